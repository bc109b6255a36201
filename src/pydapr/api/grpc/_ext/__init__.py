"""Generated protobuf modules of pydapr's gRPC extension services; see the .proto files and generate.py."""
