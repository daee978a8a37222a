"""Small tensor operations shared by the simulator and the model."""
