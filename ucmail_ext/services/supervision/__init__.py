"""Supervision: the live feed, actions on agents, service level, recordings and exports."""
