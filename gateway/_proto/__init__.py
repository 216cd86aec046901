"""Generated gRPC code (built from proto/ by `make proto`; never edit by hand)."""
