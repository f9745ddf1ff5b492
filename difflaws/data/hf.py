"""Hugging Face ``datasets``, streamed (optional extra: ``pip install 'difflaws[hf]'``)."""

from __future__ import annotations

from difflaws.data.source import DataSource
from difflaws.errors import UserError


def import_datasets():
    try:
        import datasets
    except ImportError:
        raise UserError("data kind 'hf' needs the `datasets` package: "
                        "pip install 'difflaws[hf]'") from None
    return datasets


class HFSource(DataSource):
    name = "hf"

    def __init__(self, dataset: str, subset: str = "", split: str = "train",
                 text_field: str = "text", max_documents: int = 0, val_fraction: float = 0.01):
        self.datasets = import_datasets()
        self.dataset, self.subset, self.split = dataset, subset, split
        self.text_field, self.max_documents = text_field, max_documents
        self.val_fraction = val_fraction

    def fingerprint(self) -> str:
        return f"hf|{self.dataset}|{self.subset}|{self.split}|{self.text_field}|" \
               f"{self.max_documents}|{self.val_fraction}"

    def documents(self):
        try:
            ds = self.datasets.load_dataset(self.dataset, self.subset or None, split=self.split,
                                            streaming=True)
        except Exception as exc:
            raise UserError(f"data.dataset: cannot open {self.dataset!r}: {exc}") from None
        for i, row in enumerate(ds):
            if self.max_documents and i >= self.max_documents:
                return
            if self.text_field not in row:
                raise UserError(f"data.text_field: {self.dataset!r} rows have no "
                                f"{self.text_field!r} (keys: {', '.join(row)})")
            yield f"{i}", row[self.text_field]
