"""OAuth2 mailbox login (issue 11): providers from configuration, tokens, the consent flow."""
