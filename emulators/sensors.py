"""The city's LoRaWAN sensor network (KKM smart chip): ChirpStack v4 uplink events via a pull relay.

ChirpStack v4 pushes integration events (HTTP integration, ``?event=up``, ``join``, ``status``...)
to the city's relay, which stores them and lets us pull them in the order ChirpStack sent them.

Endpoint:

- ``GET /api/v4/uplinks?after=<RFC3339>&limit=N`` → ``{"events": [...], "next": <URL or null>}``
  (the default ``relay`` shape; see the ``shape`` knob for the others).
  ``after`` is exclusive and optional (without it the relay starts at its oldest event);
  ``limit`` defaults to 100, at most 5000. ``next`` is an absolute URL for the following page,
  ``null`` on the last one. Events are ChirpStack v4 ``up`` events in the protobuf JSON mapping
  with fields emitted even at their default (as ChirpStack's integration encoder does):
  ``deduplicationId``, ``time`` (RFC 3339, nanoseconds, UTC), ``deviceInfo`` (tenant,
  application, device profile, ``deviceName``, ``devEui``, ``tags``: ``municipality`` id, Thai
  ``site`` name, ``latitude``/``longitude`` of the device), ``devAddr``, ``adr``, ``dr``, ``fCnt``,
  ``fPort``, ``confirmed``, ``data`` (base64 payload: big-endian uint16 reading × 10, 0xFFFF =
  sensor error, then uint8 battery %), decoded ``object`` (``pm25`` µg/m³ or ``water_level_cm``, and
  ``battery`` %), ``rxInfo`` (one entry per gateway that heard it: ``gatewayId``, ``uplinkId``,
  ``gwTime`` from gateways with GPS, ``nsTime``, ``rssi``, ``snr``, ``location``...), ``txInfo``
  (AS923 frequency, LoRa modulation), ``regionConfigId``.

The network: 10 PM2.5 devices (fPort 2) and 4 water-level devices (fPort 3) across the six
municipalities, 7 gateways, an uplink every 2 hours per device (about 1.5 % lost on air, the frame
counter still moves on), a frame-counter reset (rejoin with a new ``devAddr`` after a battery
swap) every few months per device. PM2.5 follows Khon Kaen's seasons: dry-season haze Jan–Apr
with many days above 37.5 µg/m³, clean air in the monsoon; water levels rise with rain Jul–Oct.

Data faults honoured (``emulator.faults.data``), applied to the events of each response:

- ``malformed_rows`` (N): the reading becomes ``"n/a"``, or ``deduplicationId`` is dropped;
- ``out_of_range`` (N): an impossible reading (PM2.5 5000, water level 2500 cm), or the device's
  latitude/longitude tags swapped (a coordinate outside the province);
- ``duplicate_rows`` (N): an event delivered twice (same ``deduplicationId``), back to back;
- ``unknown_codes`` (N): a ``municipality`` tag outside the six;
- ``missing_column`` (str): a field name dropped wherever it occurs in every event (e.g.
  ``devAddr``, ``devEui``, ``pm25``);
- ``stale_feed`` (bool): the relay stopped receiving three days ago: nothing newer is served;
- ``sentinel_readings`` (N): the reading is ``-1`` (payload 0xFFFF) or absent from ``object``;
- ``clock_skew`` (N): the gateway clock is 10–20 years ahead, so ``time`` lies in the future; the
  relay still orders and pages such events by when it received them.

Valid alternative shapes (data knobs too, persisting until reset; the faults above still apply
to each response's uplinks):

- ``shape`` (str): ``relay`` (default, above); ``list``: a bare JSON list of the events, no
  ``next`` (the reader asks again with ``after=`` the newest time it got); ``ndjson``: the same
  events one per line (``application/x-ndjson``, an empty body when there is nothing newer);
  ``object``: one event per response, as the HTTP integration posts it (``limit`` is ignored;
  ``204 No Content`` when there is nothing newer), so reading everything takes one request per
  event. Any other value answers 400.
- ``omit_fcnt`` (bool): uplinks leave ``fCnt`` out (as an encoder that drops zero-valued fields
  or a forwarder might); everything else is unchanged.
- ``other_events`` (bool): the stream also holds the other integration events ChirpStack sends:
  a ``join`` event before the first uplink after each rejoin and a ``status`` event (the
  device-status answer: ``margin``, ``batteryLevel``...) before each device's first uplink of the
  day, each stamped a few microseconds before its uplink. They are paged like the uplinks.
"""

from __future__ import annotations

import base64
import bisect
import copy
import json
import math
import re
import struct
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from emulators.server import Emulator, Request, Response, json_response
from emulators.synthetic import MUNICIPALITIES, Clock, jitter, rng

DATASET = "city.sensors"
PATH = "/api/v4/uplinks"
EPOCH = date(2020, 1, 1)  # the network went live; no events before it
SLOTS_PER_DAY = 12  # one uplink every 2 hours
SLOT_SECONDS = 2 * 3600
LOSS_RATE = 0.015
RESET_EVERY_DAYS = 120  # on average, per device
DEFAULT_LIMIT = 100
MAX_LIMIT = 5000
SHAPES = ("relay", "object", "list", "ndjson")
STALE_DAYS = 3
SENSOR_ERROR = 0xFFFF  # what a broken sensor sends; the codec decodes it to -1
NS = 1_000_000_000

TENANT_ID = "5b1f8a3e-2c47-4d0e-9a61-0c3d7f2e9b14"
TENANT_NAME = "เทศบาลนครขอนแก่น (KKM Smart City)"
REGION_CONFIG_ID = "as923"
AS923_FREQUENCIES = (923_200_000, 923_400_000, 922_200_000, 922_400_000, 922_600_000, 922_800_000)


@dataclass(frozen=True)
class Kind:
    reading: str  # key in the decoded object
    f_port: int
    application_id: str
    application_name: str
    device_profile_id: str
    device_profile_name: str


PM25 = Kind(
    reading="pm25",
    f_port=2,
    application_id="0f6b3c2a-8d14-4e57-b0a9-6c1e2d3f4a5b",
    application_name="kkm-air-quality (ตรวจวัดฝุ่น PM2.5)",
    device_profile_id="a4e2c1d0-7b3f-4a6e-9d85-1f2e3c4b5a69",
    device_profile_name="KKM smart chip PM2.5 (AS923)",
)
FLOOD = Kind(
    reading="water_level_cm",
    f_port=3,
    application_id="7c9d1e2f-3a4b-4c5d-8e6f-0a1b2c3d4e5f",
    application_name="kkm-flood-watch (เฝ้าระวังน้ำท่วม)",
    device_profile_id="b8f7e6d5-c4b3-4a29-8187-6f5e4d3c2b1a",
    device_profile_name="KKM smart chip water level (AS923)",
)

# (kind, municipality id, Thai site name, reading factor: traffic/exposure or gauge depth)
_SITES: tuple[tuple[Kind, str, str, float], ...] = (
    (PM25, "khon_kaen_city", "ศาลากลางจังหวัดขอนแก่น", 1.10),
    (PM25, "khon_kaen_city", "สวนสาธารณะบึงแก่นนคร", 0.95),
    (PM25, "khon_kaen_city", "ตลาดบางลำภู", 1.18),
    (PM25, "khon_kaen_city", "สถานีขนส่งผู้โดยสารแห่งที่ 3", 1.15),
    (PM25, "sila", "มหาวิทยาลัยขอนแก่น ประตู 2", 0.92),
    (PM25, "sila", "สำนักงานเทศบาลเมืองศิลา", 1.00),
    (PM25, "tha_phra", "ตลาดสดเทศบาลท่าพระ", 1.05),
    (PM25, "samran", "สำนักงานเทศบาลตำบลสำราญ", 0.90),
    (PM25, "ban_thum", "โรงเรียนบ้านทุ่ม", 0.97),
    (PM25, "ban_pet", "บึงหนองโคตร", 0.93),
    (FLOOD, "khon_kaen_city", "ประตูระบายน้ำบึงแก่นนคร", 1.00),
    (FLOOD, "khon_kaen_city", "คลองร่องเหมือง", 1.25),
    (FLOOD, "tha_phra", "ลำห้วยท่าพระ", 1.10),
    (FLOOD, "ban_pet", "บึงหนองโคตร ฝั่งทิศใต้", 0.85),
)

_GATEWAYS: tuple[tuple[str, float, float, float, bool], ...] = (
    # (name, lat, lon, altitude m, has a GPS clock)
    ("kkm-gw-city-hall", 16.4322, 102.8236, 48.0, True),
    ("kkm-gw-bueng-kaen-nakhon", 16.4142, 102.8322, 32.0, False),
    ("kkm-gw-kku", 16.4747, 102.8230, 41.0, True),
    ("kkm-gw-sila", 16.4861, 102.8177, 30.0, False),
    ("kkm-gw-tha-phra", 16.3318, 102.8012, 28.0, False),
    ("kkm-gw-samran", 16.5188, 102.8496, 27.0, True),
    ("kkm-gw-ban-pet", 16.4391, 102.7768, 26.0, False),
)


@dataclass(frozen=True)
class Device:
    index: int
    kind: Kind
    municipality_id: str
    site: str
    factor: float
    dev_eui: str
    name: str
    lat: float
    lon: float
    offset_seconds: int  # phase within the 2-hour cycle; devices are 7 minutes apart


@dataclass(frozen=True)
class Gateway:
    gateway_id: str
    name: str
    lat: float
    lon: float
    altitude: float
    gps: bool


def _devices() -> tuple[Device, ...]:
    centres = {m.municipality_id: m for m in MUNICIPALITIES}
    devices = []
    for index, (kind, municipality_id, site, factor) in enumerate(_SITES):
        r = rng(DATASET, "device", index)
        centre = centres[municipality_id]
        short = "pm25" if kind is PM25 else "wl"
        devices.append(
            Device(
                index=index,
                kind=kind,
                municipality_id=municipality_id,
                site=site,
                factor=factor,
                dev_eui=f"70b3d57ed00{index:05x}",
                name=f"kkm-{short}-{municipality_id.replace('_', '-')}-{index + 1:02d}",
                lat=round(jitter(r, centre.lat, 0.015), 5),
                lon=round(jitter(r, centre.lon, 0.015), 5),
                offset_seconds=index * 420 + r.randrange(60),
            )
        )
    return tuple(devices)


DEVICES = _devices()
GATEWAYS = tuple(
    Gateway(f"0016c001ff1a{index:04x}", name, lat, lon, alt, gps)
    for index, (name, lat, lon, alt, gps) in enumerate(_GATEWAYS)
)


def build(clock: Clock, port: int = 0) -> Emulator:
    """The relay for ``clock``'s year of uplinks (not started)."""
    network = _Network(clock)
    emulator = Emulator("sensors", {PATH: lambda r: network.serve(r, emulator.faults.data)}, port)
    return emulator


# --- time as integer nanoseconds since the epoch (ChirpStack times carry nanoseconds) ---

_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


def format_ns(ns: int) -> str:
    seconds, fraction = divmod(ns, NS)
    return f"{_second(seconds)}.{fraction:09d}Z"


@lru_cache(maxsize=1024)
def _second(seconds: int) -> str:
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}"


def parse_ns(text: str) -> int:
    match = _TIME.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not an RFC 3339 time with offset: {text!r}")
    whole, fraction, offset = match.groups()
    moment = datetime.fromisoformat(whole + ("+00:00" if offset == "Z" else offset))
    return int(moment.timestamp()) * NS + int((fraction or "").ljust(9, "0"))


# --- the network ---


@dataclass(frozen=True)
class _Slot:
    ns: int  # when ChirpStack received it (the relay's order)
    device: int
    day: date
    slot: int


class _Network:
    """Every uplink of the clock's year, indexed by time; events are rendered on demand."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._index: list[_Slot] | None = None
        self._times: list[int] = []
        self._counters: dict[str, list[tuple[int, int | None, date]]] = {}
        self._lock = threading.Lock()  # the server answers requests in threads

    def index(self) -> list[_Slot]:
        with self._lock:
            if self._index is None:
                slots = []
                for day in self.clock.days():
                    if day >= EPOCH:
                        slots.extend(_day_slots(self.clock, day))
                slots.sort(key=lambda s: s.ns)
                self._times = [s.ns for s in slots]
                self._index = slots
            return self._index

    def serve(self, request: Request, faults: dict[str, Any]) -> Response:
        shape = str(faults.get("shape") or "relay")
        if shape not in SHAPES:
            return json_response({"error": f"shape {shape!r} is not one of {SHAPES}"}, status=400)
        try:
            after = parse_ns(request.query["after"]) if request.query.get("after") else None
            limit = int(request.query.get("limit") or DEFAULT_LIMIT)
        except ValueError as error:
            return json_response({"error": str(error)}, status=400)
        if not 1 <= limit <= MAX_LIMIT:
            return json_response({"error": f"limit must be 1..{MAX_LIMIT}"}, status=400)
        if shape == "object":
            limit = 1
        index = self.index()
        stop = len(index)
        if faults.get("stale_feed"):
            cutoff = self.clock.local(self.clock.today - timedelta(days=STALE_DAYS))
            stop = bisect.bisect_left(self._times, int(cutoff.timestamp()) * NS)
        start = 0 if after is None else bisect.bisect_right(self._times, after)
        end = min(start + limit, stop)
        slots = index[start:end] if start < end else []
        events = self._events(slots, after, faults)
        more = bool(slots) and end < stop
        next_url = (
            request.url_for(PATH, {"after": format_ns(slots[-1].ns), "limit": limit})
            if more
            else None
        )
        return _respond(shape, events, next_url)

    def _events(
        self, slots: list[_Slot], after: int | None, faults: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The slots' uplinks with the data faults applied, and the other events if asked."""
        uplinks = [self.render(slot) for slot in slots]
        if faults.get("omit_fcnt"):
            for event in uplinks:
                del event["fCnt"]
        slot_of = {id(event): slot for event, slot in zip(uplinks, slots, strict=True)}
        events = _apply_faults(uplinks, faults)  # may add copies: they get no other events
        if not faults.get("other_events"):
            return events
        mixed = []
        for event in events:
            slot = slot_of.get(id(event))
            if slot is not None:
                mixed.extend(
                    other
                    for other in self.others(slot)
                    if after is None or parse_ns(other["time"]) > after
                )
            mixed.append(event)
        return mixed

    def others(self, slot: _Slot) -> list[dict[str, Any]]:
        """The non-uplink events ChirpStack sends just before this uplink: ``join`` after a
        rejoin, ``status`` (device-status answer) with the device's first uplink of the day."""
        device = DEVICES[slot.device]
        r = rng(DATASET, "other", device.dev_eui, slot.day.isoformat(), slot.slot)
        rejoined = self.counter(device, slot.day)[1] == slot.slot
        first_of_day = slot.slot == 0
        count = rejoined + first_of_day
        # stamped a few microseconds before the uplink, in the order ChirpStack sends them
        times = (format_ns(slot.ns - k * 1000) for k in range(count, 0, -1))
        events: list[dict[str, Any]] = []
        if rejoined:
            events.append(
                {
                    "deduplicationId": str(uuid.UUID(int=r.getrandbits(128), version=4)),
                    "time": next(times),
                    "deviceInfo": _device_info(device),
                    "devAddr": _dev_addr(device, slot.day),
                    "regionConfigId": REGION_CONFIG_ID,
                }
            )
        if first_of_day:
            events.append(
                {
                    "deduplicationId": str(uuid.UUID(int=r.getrandbits(128), version=4)),
                    "time": next(times),
                    "deviceInfo": _device_info(device),
                    "margin": r.randrange(2, 20),
                    "externalPowerSource": False,
                    "batteryLevelUnavailable": False,
                    "batteryLevel": round(r.uniform(60, 100), 1),
                }
            )
        return events

    def counter(self, device: Device, day: date) -> tuple[int, int | None, date]:
        """(uplinks counted before ``day``, slot of that day's reset or None, last reset day).

        Walked forward day by day from ``EPOCH`` once per device and kept, so the counter of
        any day depends only on the days before it, never on the emulated "today".
        """
        wanted = (day - EPOCH).days
        with self._lock:
            return self._walk(device, wanted)

    def _walk(self, device: Device, wanted: int) -> tuple[int, int | None, date]:
        states = self._counters.setdefault(device.dev_eui, [(0, None, EPOCH)])
        while len(states) <= wanted:
            count, reset, last_reset = states[-1]
            current = EPOCH + timedelta(days=len(states) - 1)
            if reset is None:
                count += SLOTS_PER_DAY
            else:
                count, last_reset = SLOTS_PER_DAY - reset, current
            following = current + timedelta(days=1)
            states.append((count, _reset_slot(device, following), last_reset))
        return states[wanted]

    def render(self, slot: _Slot) -> dict[str, Any]:
        device = DEVICES[slot.device]
        r = rng(DATASET, "uplink", device.dev_eui, slot.day.isoformat(), slot.slot)
        count, reset, last_reset = self.counter(device, slot.day)
        if reset is not None and slot.slot >= reset:
            f_cnt, last_reset = slot.slot - reset, slot.day
        else:
            f_cnt = count + slot.slot
        hour = (slot.slot * SLOT_SECONDS + device.offset_seconds) / 3600
        battery = _battery(r, (slot.day - last_reset).days, slot.slot)
        if device.kind is PM25:
            reading = round(_pm25(slot.day, hour, device.factor) * r.uniform(0.88, 1.12), 1)
        else:
            reading = round(max(0.0, _water_level(slot.day, device.factor) + r.gauss(0, 1.2)), 1)
        data_rate, heard = _reception(r, device)
        event = {
            "deduplicationId": str(uuid.UUID(int=r.getrandbits(128), version=4)),
            "time": format_ns(slot.ns),
            "deviceInfo": _device_info(device),
            "devAddr": _dev_addr(device, last_reset),
            "adr": True,
            "dr": data_rate,
            "fCnt": f_cnt,
            "fPort": device.kind.f_port,
            "confirmed": False,
            "data": _payload(reading, battery),
            "object": {device.kind.reading: reading, "battery": battery},
            "rxInfo": [_rx_info(r, gateway, rssi, snr, slot.ns) for gateway, rssi, snr in heard],
            "txInfo": {
                "frequency": r.choice(AS923_FREQUENCIES),
                "modulation": {
                    "lora": {
                        "bandwidth": 125000,
                        "spreadingFactor": 12 - data_rate,
                        "codeRate": "CR_4_5",
                    }
                },
            },
            "regionConfigId": REGION_CONFIG_ID,
        }
        return event


def _device_info(device: Device) -> dict[str, Any]:
    return {
        "tenantId": TENANT_ID,
        "tenantName": TENANT_NAME,
        "applicationId": device.kind.application_id,
        "applicationName": device.kind.application_name,
        "deviceProfileId": device.kind.device_profile_id,
        "deviceProfileName": device.kind.device_profile_name,
        "deviceName": device.name,
        "devEui": device.dev_eui,
        "deviceClassEnabled": "CLASS_A",
        "tags": {
            "municipality": device.municipality_id,
            "site": device.site,
            "latitude": f"{device.lat:.5f}",
            "longitude": f"{device.lon:.5f}",
        },
    }


def _respond(shape: str, events: list[dict[str, Any]], next_url: str | None) -> Response:
    """The events in the response shape asked for; compact JSON, as ChirpStack's own."""

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    json_type = "application/json; charset=utf-8"
    if shape == "ndjson":
        text = "".join(compact(event) + "\n" for event in events)
        return Response(body=text.encode("utf-8"), content_type="application/x-ndjson")
    if shape == "object":
        if not events:
            return Response(status=204, content_type=json_type)
        return Response(body=compact(events[0]).encode("utf-8"), content_type=json_type)
    body = events if shape == "list" else {"events": events, "next": next_url}
    return Response(body=compact(body).encode("utf-8"), content_type=json_type)


def _day_slots(clock: Clock, day: date) -> list[_Slot]:
    slots = []
    midnight = int(clock.local(day).timestamp())
    for device in DEVICES:
        r = rng(DATASET, "schedule", device.dev_eui, day.isoformat())
        for slot in range(SLOTS_PER_DAY):
            seconds = midnight + slot * SLOT_SECONDS + device.offset_seconds + int(r.random() * 90)
            ns = seconds * NS + int(r.random() * NS)
            if r.random() >= LOSS_RATE:
                slots.append(_Slot(ns, device.index, day, slot))
    return slots


def _rx_info(r: Any, gateway: Gateway, rssi: int, snr: float, ns: int) -> dict[str, Any]:
    """One gateway's reception; a GPS gateway's clock gives the event its ``time``."""
    rx: dict[str, Any] = {"gatewayId": gateway.gateway_id, "uplinkId": r.getrandbits(32)}
    if gateway.gps:
        rx["gwTime"] = format_ns(ns)
    rx["nsTime"] = format_ns(ns + 5_000_000 + int(r.random() * 60_000_000))
    rx.update(
        rssi=rssi,
        snr=snr,
        channel=int(r.random() * 8),
        location={"latitude": gateway.lat, "longitude": gateway.lon, "altitude": gateway.altitude},
        context=base64.b64encode(r.randbytes(4)).decode(),
        crcStatus="CRC_OK",
    )
    return rx


def _reset_slot(device: Device, day: date) -> int | None:
    """The slot at which the device rejoined on ``day`` (frame counter back to 0), if it did."""
    digest = zlib.crc32(f"{DATASET}|reset|{device.dev_eui}|{day.isoformat()}".encode())
    if day == EPOCH or digest % RESET_EVERY_DAYS:
        return None
    return (digest // RESET_EVERY_DAYS) % SLOTS_PER_DAY


def _dev_addr(device: Device, joined: date) -> str:
    """A new device address per (re)join, NetID 000000 (7-bit NwkID 0)."""
    digest = zlib.crc32(f"{DATASET}|devaddr|{device.dev_eui}|{joined.isoformat()}".encode())
    return f"{digest & 0x01FFFFFF:08x}"


def _battery(r: Any, days_since_swap: int, slot: int) -> float:
    level = 100 - 0.12 * days_since_swap - 0.01 * slot + r.uniform(-0.5, 0.5)
    return float(round(min(100.0, max(3.0, level))))


def _payload(reading: float, battery: float) -> str:
    raw = SENSOR_ERROR if reading == -1 else min(round(reading * 10), SENSOR_ERROR - 1)
    return base64.b64encode(struct.pack(">HB", raw, int(battery))).decode()


def _reception(r: Any, device: Device) -> tuple[int, list[tuple[Gateway, int, float]]]:
    """The data rate (ADR: by distance) and who heard the uplink: (gateway, rssi, snr)."""
    links = _links(device.index)
    nearest_km = links[0][1]
    data_rate = 5 if nearest_km < 2 else 4 if nearest_km < 5 else 3
    heard = []
    for position, (gateway, _km, chance, mean_rssi) in enumerate(links):
        if position and r.random() > chance:
            continue
        rssi = max(-125, min(-35, round(mean_rssi + r.gauss(0, 3))))
        snr = max(-15.0, min(12.5, round(((rssi + 118) / 4 + r.gauss(0, 1.5)) * 4) / 4))
        heard.append((gateway, rssi, snr))
    return data_rate, heard


@cache
def _links(device_index: int) -> tuple[tuple[Gateway, float, float, float], ...]:
    """Per gateway, nearest first: distance (km), chance to hear the device, mean RSSI (dBm)."""
    device = DEVICES[device_index]
    links = []
    for gateway in GATEWAYS:
        km = _km(device.lat, device.lon, gateway.lat, gateway.lon)
        links.append((gateway, km, math.exp(-km / 3.0), -62 - 22 * math.log10(max(km, 0.1) / 0.1)))
    return tuple(sorted(links, key=lambda link: link[1]))


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat2 - lat1) * 111.0
    dx = (lon2 - lon1) * 111.0 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


# --- the physical signals: deterministic per day, shared by every device ---

# Monthly means for Khon Kaen: dry-season haze (field burning) Jan–Apr, washout in the monsoon.
_PM25_MONTHLY = (48, 58, 55, 38, 20, 12, 10, 10, 11, 15, 24, 36)
_RAIN_CHANCE = (0.03, 0.05, 0.10, 0.20, 0.40, 0.45, 0.50, 0.60, 0.65, 0.40, 0.10, 0.03)
_WATER_BASE_CM = (22, 20, 18, 18, 22, 26, 32, 45, 60, 55, 35, 25)


def _seasonal(monthly: tuple[float, ...], day: date) -> float:
    """Monthly values interpolated between mid-months, so the seasons change smoothly."""
    position = day.month - 1 + (day.day - 15) / 30.5
    lower = math.floor(position)
    weight = position - lower
    return monthly[lower % 12] * (1 - weight) + monthly[(lower + 1) % 12] * weight


@lru_cache(maxsize=4096)
def _haze_noise(day: date) -> float:
    return rng(DATASET, "haze", day.isoformat()).gauss(0, 1)


@lru_cache(maxsize=4096)
def _rain_mm(day: date) -> float:
    r = rng(DATASET, "rain", day.isoformat())
    return r.expovariate(1 / 18) if r.random() < _RAIN_CHANCE[day.month - 1] else 0.0


def _pm25(day: date, hour: float, factor: float) -> float:
    """Regional haze of the day, a morning peak, and the site's exposure."""
    diurnal = 1 + 0.25 * math.cos(2 * math.pi * (hour - 6) / 24)
    return max(1.0, _regional_pm25(day) * diurnal * factor)


@lru_cache(maxsize=4096)
def _regional_pm25(day: date) -> float:
    """The season's level times haze that persists a few days (log-normal, mean about 1)."""
    persistent = sum(_haze_noise(day - timedelta(days=k)) for k in range(3)) / math.sqrt(3)
    return _seasonal(_PM25_MONTHLY, day) * math.exp(0.35 * persistent - 0.06)


def _water_level(day: date, factor: float) -> float:
    return _base_water_level(day) * factor + _runoff_cm(day)


@lru_cache(maxsize=4096)
def _base_water_level(day: date) -> float:
    return _seasonal(_WATER_BASE_CM, day)


@lru_cache(maxsize=4096)
def _runoff_cm(day: date) -> float:
    """The last days' rain draining away."""
    return sum(_rain_mm(day - timedelta(days=k)) * 1.2 * 0.55**k for k in range(5))


# --- data faults, applied to one response ---


def _apply_faults(events: list[dict[str, Any]], faults: dict[str, Any]) -> list[dict[str, Any]]:
    if not events or not faults:
        return events
    seed = events[0].get("deduplicationId")

    def pick(name: str) -> list[int]:
        count = min(int(faults.get(name) or 0), len(events))
        return sorted(rng(DATASET, "fault", name, seed).sample(range(len(events)), count))

    for n, i in enumerate(pick("sentinel_readings")):
        _set_reading(events[i], -1.0 if n % 2 == 0 else None)
    for n, i in enumerate(pick("out_of_range")):
        event = events[i]
        if n % 2 == 0:
            _set_reading(event, 5000.0 if _reading_key(event) == PM25.reading else 2500.0)
        else:
            tags = event["deviceInfo"]["tags"]
            tags["latitude"], tags["longitude"] = tags["longitude"], tags["latitude"]
    for i in pick("unknown_codes"):
        events[i]["deviceInfo"]["tags"]["municipality"] = "nam_phong"
    for n, i in enumerate(pick("malformed_rows")):
        event = events[i]
        if n % 2 == 0:
            event["object"][_reading_key(event)] = "n/a"
        else:
            del event["deduplicationId"]
    for i in pick("clock_skew"):
        event = events[i]
        ahead = rng(DATASET, "skew", event.get("deduplicationId")).randrange(3650, 7300) * 86400
        event["time"] = format_ns(parse_ns(event["time"]) + ahead * NS)
        for rx in event["rxInfo"]:
            if "gwTime" in rx:
                rx["gwTime"] = format_ns(parse_ns(rx["gwTime"]) + ahead * NS)
    if faults.get("missing_column"):
        for event in events:
            _drop(event, str(faults["missing_column"]))
    for i in reversed(pick("duplicate_rows")):
        events.insert(i + 1, copy.deepcopy(events[i]))
    return events


def _reading_key(event: dict[str, Any]) -> str:
    return PM25.reading if event["fPort"] == PM25.f_port else FLOOD.reading


def _set_reading(event: dict[str, Any], value: float | None) -> None:
    obj = event["object"]
    key = _reading_key(event)
    if value is None:
        obj.pop(key, None)
    else:
        obj[key] = value
        event["data"] = _payload(value, obj["battery"])


def _drop(node: Any, name: str) -> None:
    if isinstance(node, dict):
        node.pop(name, None)
        for value in node.values():
            _drop(value, name)
    elif isinstance(node, list):
        for value in node:
            _drop(value, name)
