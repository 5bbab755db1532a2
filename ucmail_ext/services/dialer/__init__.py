"""The email dialer: dialers and lists, the send pipeline, tracking and feedback."""
