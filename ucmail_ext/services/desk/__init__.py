"""The agent desk: routing, presence, the portal, composing and sending, rating, chat."""
