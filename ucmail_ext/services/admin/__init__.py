"""Administration: campaigns, templates, members, stored credentials."""
