"""Reporters: render run results and the checklist; they compute nothing new."""
