"""Images per class and split: a printed table, a CSV and a bar chart."""
import csv
from typing import Dict, List, Optional

from rich.console import Console
from rich.table import Table

#: {split: {class: count}}, splits and classes in display order.
Counts = Dict[str, Dict[str, int]]


def class_names(counts: Counts) -> List[str]:
    """Every class of any split, sorted.

    Args:
        counts: Images per class and split.

    Returns:
        Class names.
    """
    return sorted({name for per_class in counts.values()
                   for name in per_class})


def print_counts(counts: Counts, title: str,
                 console: Optional[Console] = None) -> None:
    """Print a class x split table with totals.

    Args:
        counts: Images per class and split.
        title: Table title.
        console: Where to print (stdout by default).
    """
    table = Table(title=title)
    table.add_column('class')
    for split in counts:
        table.add_column(split or 'images', justify='right')
    table.add_column('total', justify='right')
    for name in class_names(counts):
        row = [counts[split].get(name, 0) for split in counts]
        table.add_row(name, *map(str, row), str(sum(row)))
    totals = [sum(per_class.values()) for per_class in counts.values()]
    table.add_row('[b]total[/b]', *map(str, totals), str(sum(totals)))
    (console or Console()).print(table)


def write_counts_csv(counts: Counts, path: str) -> None:
    """Write ``class,<split>...,total`` rows (UTF-8).

    Args:
        counts: Images per class and split.
        path: CSV file to write.
    """
    with open(path, 'w', newline='', encoding='utf-8') as file:
        writer = csv.writer(file)
        writer.writerow(['class', *(split or 'images' for split in counts),
                         'total'])
        for name in class_names(counts):
            row = [counts[split].get(name, 0) for split in counts]
            writer.writerow([name, *row, sum(row)])


def plot_counts(counts: Counts, path: str, title: str) -> None:
    """Save a stacked bar chart of the images per class.

    Chinese class names are drawn with a CJK font when one is installed,
    as English aliases otherwise.

    Args:
        counts: Images per class and split.
        path: PNG file to write.
        title: Chart title.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from fruit_ext.visualization.fonts import display_labels

    names = class_names(counts)
    labels, font = display_labels(names)
    figure, axes = plt.subplots(
        figsize=(max(6.0, 0.35 * len(names) + 2), 4.5), layout='constrained')
    bottom = [0] * len(names)
    for split, per_class in counts.items():
        heights = [per_class.get(name, 0) for name in names]
        axes.bar(range(len(names)), heights, bottom=bottom,
                 label=split or 'images')
        bottom = [b + h for b, h in zip(bottom, heights)]
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels(labels, rotation=60, ha='right', fontproperties=font)
    axes.set_ylabel('images')
    axes.set_title(title)
    if len(counts) > 1:
        axes.legend()
    figure.savefig(path, dpi=100)
    plt.close(figure)
