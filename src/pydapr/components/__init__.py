"""Component registry and the contract every component family shares."""
