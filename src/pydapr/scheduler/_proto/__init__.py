"""Generated protobuf modules of the scheduler protocol; see scheduler.proto and generate.py."""
