"""Use cases shared by views, tasks and the CLI: the rules live here, once."""
