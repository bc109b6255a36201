"""The hash ring against the vectors Dapr asserts (pkg/placement/hashing/consistent_hash_test.go)."""

from __future__ import annotations

import hashlib

from pydapr.placement._proto import placement_pb2 as pb
from pydapr.placement.ring import Ring, hash_key, virtual_nodes
from pydapr.placement.tables import Member, Tables, table_content, to_proto


def test_virtual_nodes_match_dapr() -> None:
    # TestGetAndSetVirtualNodeCacheHashes
    assert virtual_nodes("192.168.1.83:60992", 5) == (
        11414427053803968138,
        6110756290993384529,
        13876541546109691082,
        12165331075625862737,
        9528020266818944582,
    )
    assert virtual_nodes("192.168.1.89:62362", 3) == (
        13384490355354205375,
        11281728843146723001,
        694935339057032644,
    )


def test_hash_is_the_first_eight_bytes_little_endian_of_blake2b_512() -> None:
    digest = hashlib.blake2b(b"actor-1", digest_size=64).digest()
    assert hash_key("actor-1") == int.from_bytes(digest[:8], "little")


def test_lookup_is_the_first_virtual_node_at_or_after_the_key_wrapping() -> None:
    hosts = ["192.168.1.83:60992", "192.168.1.89:62362"]
    ring = Ring(hosts, replication_factor=5)
    points = sorted((p, h) for h in hosts for p in virtual_nodes(h, 5))
    for i in range(200):
        key = f"id-{i}"
        k = hash_key(key)
        expected = next((h for p, h in points if p >= k), points[0][1])
        assert ring.lookup(key) == expected
    # a key hashing past the last point wraps to the first
    assert Ring([], 5).lookup("x") is None


def test_removing_a_host_moves_only_its_keys() -> None:
    # TestReplicationFactor: "varying replication factors, no movement"
    nodes = ["node1", "node2", "node3", "node4", "node5"]
    for factor in (1, 100, 1000):
        before = Ring(nodes, factor)
        after = Ring([n for n in nodes if n != "node3"], factor)
        for i in range(100):
            owner = before.lookup(str(i))
            if owner != "node3":
                assert after.lookup(str(i)) == owner


def test_tables_per_actor_type() -> None:
    members = [
        Member("10.0.0.1:1", "a", "default", 1, frozenset({"cart", "user"})),
        Member("10.0.0.2:1", "b", "default", 1, frozenset({"cart"})),
        Member("10.0.0.3:1", "c", "default", 1, frozenset()),
    ]
    content = table_content(members)
    assert content == {
        "cart": {"10.0.0.1:1": ("a", 1), "10.0.0.2:1": ("b", 1)},
        "user": {"10.0.0.1:1": ("a", 1)},
    }
    tables = Tables(pb.PlacementTables.FromString(to_proto(content, "7", 100).SerializeToString()))
    assert tables.version == "7"
    assert tables.actor_types == {"cart", "user"}
    for i in range(30):
        entry = tables.lookup("cart", str(i))
        assert entry is not None
        assert entry.name == Ring(["10.0.0.1:1", "10.0.0.2:1"]).lookup(str(i))
        assert tables.lookup("user", str(i)).name == "10.0.0.1:1"  # type: ignore[union-attr]
    assert tables.lookup("nobody", "1") is None
