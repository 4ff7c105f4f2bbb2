"""Kafka's default key partitioning (murmur2), remembered per key: same partitions, a fraction of the CPU.

kafka-python's :class:`~kafka.partitioner.DefaultPartitioner` hashes every record's key
in pure Python and builds three sets from the cluster metadata on each call: a few
microseconds per record, which at tens of thousands of records a second is a large
share of the edge's one Python core. Edge keys repeat (a geohash cell, a camera), so
:class:`CachedKeyPartitioner` keeps the answer per ``(topic, key, partition count)``.
The mapping is exactly the default one (and the Java client's), so records keep their
partition whichever client sent them; a topic that gains partitions gets fresh answers.

Example:
    >>> KafkaProducer(bootstrap_servers=..., partitioner=CachedKeyPartitioner())  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from kafka.partitioner import DefaultPartitioner


class CachedKeyPartitioner(DefaultPartitioner):
    """:class:`~kafka.partitioner.DefaultPartitioner` with the keyed answers cached.

    Args:
        max_keys: answers kept at most; the cache starts over when full (keys are
            few on an edge device, so this only bounds a pathological key space).
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._cache: dict[tuple[str, bytes, int], int] = {}

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        partitions = cluster.partitions_for_topic(topic)
        if serialized_key is None or not partitions:  # random choice, or the default's error
            return int(super().partition(topic, key, serialized_key, value, serialized_value, cluster))
        cache_key = (topic, bytes(serialized_key), len(partitions))
        chosen = self._cache.get(cache_key)
        if chosen is None:
            if len(self._cache) >= self.max_keys:
                self._cache.clear()
            chosen = int(super().partition(topic, key, serialized_key, value, serialized_value, cluster))
            self._cache[cache_key] = chosen
        return chosen
