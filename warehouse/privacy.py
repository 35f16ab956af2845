"""Personal data in what people write: the patterns, in one place, and the mask for reports.

What counts as personal data here, as it turns up in citizens' complaints and health exports:

- a Thai national ID: 13 digits, run together or grouped (``1-2345-67890-12-1``), whose last digit
  is the check digit (:func:`is_thai_national_id`); a 13-digit number that fails the check is not
  one;
- a Thai phone number: ``0`` and 8 or 9 more digits (``043 123 456``, ``081-234-5678``), or
  ``+66`` without that ``0`` (``+66 81 234 5678``), with spaces or dashes; digits inside a longer
  number, a decimal (``16.0812345678``) or a date (``08-11-2026``) are not one;
- an e-mail address;
- a name: in free text, a Thai or English honorific and the name after it (``นายสมชาย ใจดี``,
  ``คุณวิไลวรรณ``, ``Mrs Jane Smith``), or the name after "reported by" (``แจ้งโดย สมชาย ใจดี``);
  in a JSON document, the value of a field named for a person (``name``, ``first_name``,
  ``reporter``, ``contact`` ...). Words that start like an honorific but are not one (``นายก``
  for mayor, ``คุณภาพ`` for quality, ``ขอบคุณ`` for thank you) are left alone.

:func:`mask_personal_data` replaces each in a text with a labelled mask (``[national-id]``,
``[phone]``, ``[email]``, ``[name]``); :func:`mask_payload` does the same to a quarantined row as
stored (JSON or not), keeping a JSON document's shape; :func:`find_personal_data` and
:func:`contains_personal_data` say what a text holds (e.g. to refuse a cell in an export).
The masks are for what people read (reports); the data itself (``quarantine.rows``) is kept as
received. Over-masking is preferred to a leak: a masked word in a report costs less than a phone
number printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

NATIONAL_ID, PHONE, EMAIL, NAME = "[national-id]", "[phone]", "[email]", "[name]"

# A digit, letter or point just before or after a match means it is part of something longer.
_OPEN, _CLOSE = r"(?<![0-9A-Za-z.+])", r"(?![0-9A-Za-z]|[.,]\d)"

THAI_NATIONAL_ID = re.compile(rf"{_OPEN}[1-8](?:[ -]?\d){{12}}{_CLOSE}")
# +66 (the 0 dropped, or kept in brackets) or 0, an area or mobile prefix, then the number;
# is_thai_phone checks the count of digits
THAI_PHONE = re.compile(
    rf"{_OPEN}(?:\+66[ -]?(?:\(0\)[ -]?)?|\(?0)[2-9]\d?\)?(?:[ -]?\d){{6,8}}{_CLOSE}"
)
EMAIL_ADDRESS = re.compile(
    r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_DATE_LIKE = re.compile(r"\d{1,2}[- ]\d{1,2}[- ]\d{4}|\d{4}[- ]\d{1,2}[- ]\d{1,2}")

_THAI = "[\u0e01-\u0e3a\u0e40-\u0e4e]"  # Thai letters, vowels and tone marks; no digits
_THAI_HONORIFIC = "(?:นางสาว|น\\.ส\\.|นาง|นาย|คุณ|เด็กชาย|เด็กหญิง|ด\\.ช\\.|ด\\.ญ\\.|ดร\\.|นพ\\.|พญ\\.)"
# what follows an honorific in words that are not names (นายกเทศมนตรี, คุณภาพ, นางพยาบาล)
_NOT_A_NAME = (
    "(?:กเทศมนตรี|กรัฐมนตรี|กสมาคม|กอบต|กอบจ|อำเภอ|ทะเบียน|จ้าง|หน้า|ช่าง|ทุน|ประกัน|ตรวจ|ด่าน"
    "|ฟ้า|งาม|พยาบาล|แบบ|เอก|ภาพ|ค่า|สมบัติ|ธรรม|ประโยชน์|ลักษณะ|ูปการ|ครับ|ค่ะ|คะ)"
)
_NOT_BEFORE = "(?<!ขอบ)(?<!พระ)(?<!บุญ)(?<!เจ้า)(?<!ท)"  # ขอบคุณ, ขอบพระคุณ, บุญคุณ, เจ้านาย, ทนาย
# a word after the first name that is not a surname: the text goes on ("โทร 081...")
_NOT_A_SURNAME = "(?:โทร|เบอร์|ติดต่อ|แจ้ง|เลข|อายุ|บ้านเลขที่|อยู่|ที่|ขอ|ร้องเรียน)"
_THAI_NAME = f"{_THAI}{{2,}}(?:[ \\t]+(?!{_NOT_A_SURNAME}){_THAI}{{2,}})?"
_THAI_REPORTED_BY = "(?:แจ้งโดย|ผู้แจ้ง|ผู้ร้องเรียน|ผู้ร้อง)"

_EN_HONORIFIC = r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?"
_EN_NAME = r"[A-Z][a-zA-Z'\-]+(?:[ \t]+[A-Z][a-zA-Z'\-]+){0,2}"
_EN_REPORTED_BY = r"\b(?i:reported by|contact person|complainant|reporter)\b:?"

PERSON_NAME = re.compile(
    "|".join(
        [
            f"(?P<thai_lead>{_THAI_REPORTED_BY}(?:[ \\t]*:?[ \\t]*(?={_THAI_HONORIFIC})|[ \\t:]+))"
            f"(?:{_THAI_HONORIFIC}[ \\t]?)?{_THAI_NAME}",
            f"{_NOT_BEFORE}{_THAI_HONORIFIC}(?!{_NOT_A_NAME})[ \\t]?{_THAI_NAME}",
            f"(?P<en_lead>{_EN_REPORTED_BY}[ \\t]+)(?:{_EN_HONORIFIC}[ \\t]+)?{_EN_NAME}",
            f"{_EN_HONORIFIC}[ \\t]+{_EN_NAME}",
        ]
    )
)

# JSON fields whose value is personal whatever it looks like (keys compared lower-case, with
# dashes and spaces as underscores)
_KEY_LABELS: dict[str, str] = {
    **dict.fromkeys(
        ["phone", "phone_number", "telephone", "tel", "mobile", "mobile_phone", "contact_phone",
         "fax", "เบอร์โทร", "โทรศัพท์"],
        PHONE,
    ),
    **dict.fromkeys(["email", "e_mail", "email_address", "contact_email", "อีเมล"], EMAIL),
    **dict.fromkeys(
        ["national_id", "citizen_id", "id_card", "id_card_number", "thai_id", "cid", "pid",
         "personal_id", "เลขบัตรประชาชน"],
        NATIONAL_ID,
    ),
    **dict.fromkeys(
        ["name", "first_name", "firstname", "last_name", "lastname", "surname", "middle_name",
         "given_name", "given", "family_name", "family", "full_name", "fullname", "nickname",
         "contact", "contact_name", "contact_person", "reporter", "reporter_name", "reported_by",
         "requester", "requester_name", "complainant", "complainant_name", "citizen_name",
         "person_name", "patient_name", "caller", "caller_name", "applicant", "applicant_name",
         "ชื่อ", "นามสกุล", "ชื่อผู้แจ้ง", "ผู้แจ้ง"],
        NAME,
    ),
}  # fmt: skip
_NAME_SUFFIXES = ("_first_name", "_last_name", "_full_name", "_given_name", "_family_name")


def is_thai_national_id(digits: str) -> bool:
    """13 digits whose last is the check digit: (11 − Σ dᵢ·(13 − i) mod 11) mod 10."""
    if len(digits) != 13 or not digits.isdigit():
        return False
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


def is_thai_phone(text: str) -> bool:
    """``text`` (a :data:`THAI_PHONE` match) has the digits of a Thai number and is no date."""
    if _DATE_LIKE.fullmatch(text):
        return False
    digits = re.sub(r"\D", "", text)
    national = digits[2:] if text.startswith("+") else digits[1:]
    if text.startswith("+") and national.startswith("0"):
        national = national[1:]  # +66 (0) 81 ...
    return len(national) in (8, 9)


def mask_personal_data(text: str) -> str:
    """``text`` with every national ID, phone number, e-mail address and name masked."""
    text = EMAIL_ADDRESS.sub(EMAIL, text)
    text = _sub_checked(THAI_NATIONAL_ID, text, _national_id_match, NATIONAL_ID)
    text = _sub_checked(THAI_PHONE, text, is_thai_phone, PHONE)
    return PERSON_NAME.sub(_mask_name, text)


def find_personal_data(text: str) -> list[tuple[str, str]]:
    """Each piece of personal data in ``text``: (its mask, the text found), in the order
    :func:`mask_personal_data` masks them."""
    found = [(EMAIL, m.group()) for m in EMAIL_ADDRESS.finditer(text)]
    found += [
        (NATIONAL_ID, m.group())
        for m in THAI_NATIONAL_ID.finditer(text)
        if _national_id_match(m.group())
    ]
    found += [(PHONE, m.group()) for m in THAI_PHONE.finditer(text) if is_thai_phone(m.group())]
    return found + [(NAME, m.group()) for m in PERSON_NAME.finditer(text)]


def contains_personal_data(text: str) -> bool:
    """Whether :func:`mask_personal_data` would change ``text``."""
    return mask_personal_data(text) != text


def mask_payload(payload: str) -> str:
    """A quarantined row as stored, masked: a JSON document keeps its shape (keys, nesting,
    numbers), with each person-named field's value and the free text in every string masked;
    anything else is masked as text."""
    try:
        document = json.loads(payload)
    except ValueError:
        return mask_personal_data(payload)
    if not isinstance(document, dict | list):
        return mask_personal_data(payload)
    return json.dumps(mask_value(document), ensure_ascii=False)


def mask_value(value: Any, label: str | None = None) -> Any:
    """A parsed JSON value with personal data masked; ``label`` masks every leaf under a
    person-named field."""
    if isinstance(value, dict):
        return {k: mask_value(v, key_label(str(k)) or label) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(item, label) for item in value]
    if value is None or value == "" or isinstance(value, bool):
        return value
    if label is not None:
        return label
    if isinstance(value, int) and is_thai_national_id(str(value)):
        return NATIONAL_ID
    return mask_personal_data(value) if isinstance(value, str) else value


def key_label(key: str) -> str | None:
    """The mask for the value of a JSON field named ``key``, if the name says it is personal."""
    normal = re.sub(r"[\s-]+", "_", key.strip().lower())
    if normal in _KEY_LABELS:
        return _KEY_LABELS[normal]
    return NAME if normal.endswith(_NAME_SUFFIXES) else None


def _national_id_match(text: str) -> bool:
    return is_thai_national_id(re.sub(r"\D", "", text))


def _sub_checked(
    pattern: re.Pattern[str], text: str, check: Callable[[str], bool], label: str
) -> str:
    return pattern.sub(lambda m: label if check(m.group()) else m.group(), text)


def _mask_name(match: re.Match[str]) -> str:
    lead = match.group("thai_lead") or match.group("en_lead") or ""
    return f"{lead}{NAME}"
