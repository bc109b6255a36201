"""The scheduler control-plane service: durable jobs shared by replicas through leases in the database."""
