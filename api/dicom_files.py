"""Reading stored instance files for the routes that serve DICOM content."""

from __future__ import annotations

from litestar import Request
from pydicom import Dataset
from pydicom.uid import UID

from adapters.compression import CorruptedFile
from api.context import storage_of
from api.errors import OrthancCode, OrthancError
from domain.dicom_files import parse_dataset, read_dicom, transfer_syntax_uid
from domain.parsed_dicom import ParsedDicom
from projections.hierarchy.queries import Row


def read_bytes(request: Request, instance: Row) -> bytes:
    """The instance's DICOM file, decompressed if it is stored compressed."""
    try:
        return storage_of(request).read(instance["file_uuid"], instance.get("file_compression"))
    except FileNotFoundError:
        raise OrthancError(
            OrthancCode.INEXISTENT_FILE, f"The file of instance {instance['id']} is missing"
        ) from None
    except CorruptedFile as error:
        raise OrthancError(OrthancCode.CORRUPTED_FILE, str(error)) from None


def read_dataset(request: Request, instance: Row) -> Dataset:
    """The whole dataset, pixel data included (for /content)."""
    return parse_dataset(read_bytes(request, instance))


def read_pixel_dataset(request: Request, instance: Row) -> Dataset:
    """The whole dataset with its pixel data, for decoding: a file without a meta header gets
    the transfer syntax it was read with. Raises InvalidDicomFile."""
    ds = read_dicom(read_bytes(request, instance), with_pixel_data=True).dataset
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = UID(transfer_syntax_uid(ds))
    return ds


def read_header(request: Request, instance: Row) -> ParsedDicom:
    """The dataset without decoding its pixel data: enough for every JSON view of the tags,
    which report PixelData as null anyway."""
    return read_dicom(read_bytes(request, instance))
