"""Public disclosure: the desensitised feed for the public credit website, its gate, its export."""
