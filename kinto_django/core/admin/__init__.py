"""The Django admin of every resource type: writes go through the engine's actions."""
