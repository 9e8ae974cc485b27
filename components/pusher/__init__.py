"""Pusher with integer versions, atomic writes and no duplicate pushes."""
