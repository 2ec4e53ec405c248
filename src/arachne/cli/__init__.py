"""The `arachne` command line."""
