"""The dataset format, its validation, the real-data adapters, demo data and the torch view."""

from openparts.data.dataset import DatasetWriter, Part, PartDataset, PartSample
from openparts.data.errors import DataError, InvalidDatasetError
from openparts.data.validate import validate

__all__ = ["DataError", "DatasetWriter", "InvalidDatasetError", "Part", "PartDataset", "PartSample", "validate"]
