"""Events: the model, validation against the ActionTrail schema, the recorder and lookup."""
