"""Mail coming in: polling and IDLE, storing, threading, auto-replies."""
