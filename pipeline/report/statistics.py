"""StatisticsGen's per-split ``FeatureStats.pb`` read into ``SplitStats``."""

from __future__ import annotations

from pathlib import Path

from pipeline.report.facts import FeatureStats, SplitStats

STATS_FILE = "FeatureStats.pb"
TOP_VALUES = 5


def read_statistics(statistics_uri: str | Path) -> list[SplitStats]:
    """Reads every split under an ExampleStatistics artifact URI.

    Args:
      statistics_uri: The artifact's directory, holding ``Split-<name>/FeatureStats.pb``.

    Returns:
      One ``SplitStats`` per split, in the order train, eval, then others by name.
    """
    from tensorflow_metadata.proto.v0 import statistics_pb2

    result = []
    for split_dir in sorted(Path(statistics_uri).glob("Split-*"), key=_split_order):
        path = split_dir / STATS_FILE
        if not path.is_file():
            continue
        stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(path.read_bytes())
        for dataset in stats.datasets:
            result.append(SplitStats(
                split=split_dir.name[len("Split-"):],
                num_examples=int(dataset.num_examples),
                features=[_feature(f, int(dataset.num_examples)) for f in dataset.features],
            ))
    return result


def _split_order(path: Path) -> tuple[int, str]:
    name = path.name[len("Split-"):]
    return ({"train": 0, "eval": 1}.get(name, 2), name)


def _feature(feature, num_examples: int) -> FeatureStats:
    name = ".".join(feature.path.step) or feature.name
    kind = feature.WhichOneof("stats") or ""
    if kind == "num_stats":
        num = feature.num_stats
        common = num.common_stats
        return FeatureStats(
            name=name, kind="numeric",
            present=int(common.num_non_missing),
            missing=int(common.num_missing) or max(num_examples - int(common.num_non_missing), 0),
            values_per_example=(int(common.min_num_values), int(common.max_num_values)),
            minimum=num.min, maximum=num.max, mean=num.mean, std=num.std_dev,
            zeros=int(num.num_zeros),
        )
    if kind == "string_stats":
        text = feature.string_stats
        common = text.common_stats
        return FeatureStats(
            name=name, kind="string",
            present=int(common.num_non_missing),
            missing=int(common.num_missing) or max(num_examples - int(common.num_non_missing), 0),
            values_per_example=(int(common.min_num_values), int(common.max_num_values)),
            unique=int(text.unique),
            top_values=[(v.value, float(v.frequency)) for v in text.top_values[:TOP_VALUES]],
        )
    return FeatureStats(name=name, kind=kind or "unknown")
