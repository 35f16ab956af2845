"""Personal data is found and masked in Thai and English free text and in JSON payloads, and what
only looks like it (a bad checksum, a date, a decimal, a mayor) is left alone."""

from __future__ import annotations

import json

import pytest

from warehouse.privacy import (
    contains_personal_data,
    find_personal_data,
    is_thai_national_id,
    key_label,
    mask_payload,
    mask_personal_data,
)

VALID_IDS = ["1101700203450", "3100900123455", "1234567890121"]


@pytest.mark.parametrize("digits", VALID_IDS)
def test_valid_national_ids_pass_the_checksum(digits: str) -> None:
    assert is_thai_national_id(digits)
    wrong = digits[:12] + str((int(digits[12]) + 1) % 10)
    assert not is_thai_national_id(wrong)
    assert not is_thai_national_id(digits[:12]) and not is_thai_national_id(digits + "0")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "ถนนชำรุด หน้าตลาดสด แจ้งโดย นายสมชาย ใจดี โทร 081-234-5678",
            "ถนนชำรุด หน้าตลาดสด แจ้งโดย [name] โทร [phone]",
        ),
        ("ไฟดับ ติดต่อกลับ 0891234567", "ไฟดับ ติดต่อกลับ [phone]"),
        (
            "ผู้แจ้ง นางสาววิไลวรรณ ศรีสุวรรณ เลขบัตรประชาชน 1101700203450 เบอร์ 062-345-6789",
            "ผู้แจ้ง [name] เลขบัตรประชาชน [national-id] เบอร์ [phone]",
        ),
        ("แจ้งโดย สมศรี มีสุข โทร 0612345678", "แจ้งโดย [name] โทร [phone]"),
        ("คุณวิไล ร้องเรียนว่าน้ำท่วมซอย", "[name] ร้องเรียนว่าน้ำท่วมซอย"),
        ("นางนงลักษณ์ พลอยงาม แจ้งว่าไฟทางดับ", "[name] แจ้งว่าไฟทางดับ"),
        ("เลขบัตร 3-1009-00123-45-5 ครับ", "เลขบัตร [national-id] ครับ"),
        ("เบอร์บ้าน (043) 123 456 หรือ 02-123-4567", "เบอร์บ้าน [phone] หรือ [phone]"),
        ("โทร0812345678ได้ตลอด", "โทร[phone]ได้ตลอด"),
        (
            "Reported by Mrs Jane Smith, call +66 81 234 5678 or jane.smith@example.co.th",
            "Reported by [name], call [phone] or [email]",
        ),
        ("Dr. Somchai Jaidee called from +66 (0) 43 123 456.", "[name] called from [phone]."),
        ("mail somchai_j+kk@kku.ac.th now", "mail [email] now"),
    ],
)
def test_personal_data_is_masked_with_its_label(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked
    assert contains_personal_data(text)
    assert mask_personal_data(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "รหัสอ้างอิง 1101700203451",  # 13 digits, bad check digit
        "batch 1234567890123 of 2026",  # the same
        "วันที่ 08-11-2026 และ 2026-11-18 เวลา 08:30",  # dates
        "lat 16.0812345678 long 102.812345678 ratio 0.0812345678",  # decimals
        "ยอด 12,081,234,567 บาท",  # an amount
        "1763452860000 ms",  # a 13-digit time stamp that fails the check
        "สายด่วน 1669 และ 191",  # hotlines are not people
        "นายกเทศมนตรีนครขอนแก่น ขอบคุณครับ ขอบพระคุณ คุณภาพอากาศดี ทนายความ นางพยาบาล",
        "Drainage on Mittraphap Rd. near Central Plaza; MS Teams call",
        "request 20261118T010203000000Z-0a1b2c3d from device 0004a30b001c1234",
    ],
)
def test_near_misses_are_left_alone(text: str) -> None:
    assert mask_personal_data(text) == text
    assert not contains_personal_data(text)


def test_a_json_payload_keeps_its_shape_with_personal_fields_and_free_text_masked() -> None:
    row = {
        "service_request_id": "KK-000123",
        "description": "ท่อระบายน้ำอุดตัน แจ้งโดย นายสมชาย ใจดี โทร 081-234-5678",
        "first_name": "Somchai",
        "last_name": "Jaidee",
        "email": "somchai@example.com",
        "phone": 812345678,
        "lat": 16.4321,
        "count": 3,
        "closed": False,
        "notes": None,
        "contact": {"name": {"given": ["Wilai"], "family": "Srisuwan"}, "phone": "0812345678"},
        "history": [{"note": "ติดต่อกลับ 0891234567"}, {"note": "ซ่อมแล้ว"}],
    }
    masked = json.loads(mask_payload(json.dumps(row, ensure_ascii=False, sort_keys=True)))
    assert list(masked) == sorted(row)  # same keys, same order
    assert masked == {
        **row,
        "description": "ท่อระบายน้ำอุดตัน แจ้งโดย [name] โทร [phone]",
        "first_name": "[name]",
        "last_name": "[name]",
        "email": "[email]",
        "phone": "[phone]",
        "contact": {"name": {"given": ["[name]"], "family": "[name]"}, "phone": "[phone]"},
        "history": [{"note": "ติดต่อกลับ [phone]"}, {"note": "ซ่อมแล้ว"}],
    }


def test_payloads_that_are_not_json_documents_are_masked_as_text() -> None:
    assert mask_payload("101,ถนนชำรุด,ผู้แจ้ง นายสมชาย ใจดี 0812345678") == (
        "101,ถนนชำรุด,ผู้แจ้ง [name] [phone]"
    )
    assert mask_payload('"call 0812345678"') == '"call [phone]"'
    assert mask_payload('{"description": "truncated, 0812') == '{"description": "truncated, 0812'
    assert mask_payload("<512 bytes, kept at raw/citizens.requests/x.json>") == (
        "<512 bytes, kept at raw/citizens.requests/x.json>"
    )


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("name", "[name]"),
        ("First-Name", "[name]"),
        ("reporter_first_name", "[name]"),
        ("ชื่อผู้แจ้ง", "[name]"),
        ("Phone Number", "[phone]"),
        ("citizen_id", "[national-id]"),
        ("e-mail", "[email]"),
        ("service_name", None),
        ("agency_responsible", None),
        ("stop_name", None),
    ],
)
def test_person_named_fields(key: str, label: str | None) -> None:
    assert key_label(key) == label


def test_find_personal_data_names_each_kind_found() -> None:
    text = f"แจ้งโดย นายสมชาย ใจดี โทร 081-234-5678 บัตร {VALID_IDS[0]} อีเมล a.b@kku.ac.th"
    assert find_personal_data(text) == [
        ("[email]", "a.b@kku.ac.th"),
        ("[national-id]", VALID_IDS[0]),
        ("[phone]", "081-234-5678"),
        ("[name]", "แจ้งโดย นายสมชาย ใจดี"),
    ]
    assert find_personal_data("รหัส 1101700203451 วันที่ 08-11-2026") == []
