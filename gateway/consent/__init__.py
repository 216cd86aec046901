"""The consent step: signed consent artefacts (`artefacts`) and their counted uses (`uses`)."""
