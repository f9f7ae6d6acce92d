"""Why a row was quarantined. The codes are stable: tests, docs and users rely on them."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    RAGGED_ROW = "ragged_row"  # a CSV row with the wrong number of fields
    BAD_JSON = "bad_json"  # a JSON line that does not parse as an object
    BAD_ENCODING = "bad_encoding"  # bytes that are not text in the detected encoding
    MISSING_REQUIRED = "missing_required"  # a required field is empty
    BAD_NUMBER = "bad_number"  # not a number after cleaning
    BAD_DATE = "bad_date"  # not a date/time in any accepted format, or not a real day
    BAD_BOOL = "bad_bool"  # not a recognised yes/no value
    BAD_FORMAT = "bad_format"  # text does not match the column's pattern
    BAD_ID_NUMBER = "bad_id_number"  # resident ID with a wrong check digit
    UNKNOWN_CODE = "unknown_code"  # a code outside the column's allowed values
    OUT_OF_RANGE = "out_of_range"  # a number or date outside its valid range
    KEY_CONFLICT = "key_conflict"  # same key as an accepted row but different content


REASON_TEXT: dict[Reason, str] = {
    Reason.RAGGED_ROW: "CSV row has a different number of fields than the header",
    Reason.BAD_JSON: "line is not a valid JSON object",
    Reason.BAD_ENCODING: "bytes cannot be decoded in the file's encoding",
    Reason.MISSING_REQUIRED: "a required field is empty",
    Reason.BAD_NUMBER: "value is not a number",
    Reason.BAD_DATE: "value is not a valid date or time",
    Reason.BAD_BOOL: "value is not a recognised yes/no",
    Reason.BAD_FORMAT: "value does not match the expected format",
    Reason.BAD_ID_NUMBER: "resident ID number fails its check digit",
    Reason.UNKNOWN_CODE: "value is not one of the allowed codes",
    Reason.OUT_OF_RANGE: "value is outside its valid range",
    Reason.KEY_CONFLICT: "a row with the same key but different content was already accepted",
}
