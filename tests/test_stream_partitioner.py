"""CachedKeyPartitioner: the default (murmur2) partition of every key, also after a topic grows."""

from __future__ import annotations

from kafka.partitioner import DefaultPartitioner

from stream.cells import geohash_cells
from stream.partitioner import CachedKeyPartitioner


class _Cluster:
    """The three read-only calls partitioners make on kafka-python's ClusterMetadata."""

    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions

    def topics(self) -> set[str]:
        return set(self.partitions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        n = self.partitions.get(topic)
        return None if n is None else set(range(n))

    def available_partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions_for_topic(topic)


def _keys() -> list[bytes]:
    lons = [120.0 + i * 0.013 for i in range(400)]
    lats = [30.0 + (i % 37) * 0.011 for i in range(400)]
    return [c.encode() for c in geohash_cells(lons, lats, 6)] + [b"m1/cam0", b"", b"\xff" * 9]


def test_same_partitions_as_the_default_partitioner_also_after_the_topic_grows() -> None:
    cluster = _Cluster({"events": 6})
    default, cached = DefaultPartitioner(), CachedKeyPartitioner()
    for _ in range(2):  # the second pass answers from the cache
        for key in _keys():
            assert cached.partition("events", key, key, None, None, cluster) == default.partition(
                "events", key, key, None, None, cluster
            )
    cluster.partitions["events"] = 12  # partitions added: the cached answers for 6 no longer hold
    moved = 0
    for key in _keys():
        expected = default.partition("events", key, key, None, None, cluster)
        moved += expected != CachedKeyPartitioner().partition(
            "events", key, key, None, None, _Cluster({"events": 6})
        )
        assert cached.partition("events", key, key, None, None, cluster) == expected
    assert moved > 0  # the check above could fail: some keys do change partition


def test_bounded_cache_and_unkeyed_records() -> None:
    cluster = _Cluster({"events": 4})
    cached = CachedKeyPartitioner(max_keys=10)
    for key in _keys():
        cached.partition("events", key, key, None, None, cluster)
    assert 0 < len(cached._cache) <= 10
    assert cached.partition("events", None, None, b"v", b"v", cluster) in range(4)  # random, as the default
