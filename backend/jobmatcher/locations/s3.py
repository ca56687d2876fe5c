"""A backup location in S3-compatible object storage (AWS S3, Backblaze B2, Cloudflare R2, MinIO, SeaweedFS…).

Everything goes through boto3 and its transfer manager (s3transfer): large
files are sent as a multipart upload whose parts carry a SHA-256 checksum the
server checks on receipt (where it supports that), and an upload that fails
is aborted, so S3 never lists a partial object. After an upload the object is
checked against what was sent: its ETag against the MD5 (or, for multipart,
the MD5 of the parts' MD5s) computed while the bytes were produced; when a
service's ETag is not of that form (server-side encryption, some providers)
the object is read back and its SHA-256 compared instead.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path

from ..errors import (
    JobMatcherError,
    LocationClockError,
    LocationCopyFailedError,
    LocationCredentialsError,
    LocationUnavailableError,
    ValidationError,
)
from ..folders import LOCATION_COPIES
from ..fsutil import free_space, read_failed, remove_quietly, require_free_space, space_error
from .client import (
    MARKER_KEY,
    ByteProgress,
    LocationClient,
    ObjectInfo,
    Producer,
    SourceUnreadable,
    Stored,
    check_key,
    copy_too_large,
    small_limit,
)
from .pipeline import PipelinedWriter

MB = 1024 * 1024
MULTIPART_THRESHOLD = 16 * MB
MULTIPART_CHUNKSIZE = 16 * MB
SPOOL_MARGIN = 1 * MB  # age's header and per-chunk tags over the backup's size, with room to spare
_USERINFO = re.compile(r"(?<=//)[^/@\s]*@")


def _scrub(text: str) -> str:
    """`text` with any user name and password of a URL in it removed (botocore's messages repeat the URL)."""
    return _USERINFO.sub("", text)


_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "InvalidSecurity",
    "403",
    "Forbidden",
    "AuthorizationHeaderMalformed",
}


# A refusal with the service's clock this far from this computer's is the clock's doing, not the keys': S3
# refuses a request dated more than 15 minutes off (SigV4), and a 403 to a HEAD has no body to say so (V6).
CLOCK_TOLERANCE_SECONDS = 10 * 60


def server_time(response: object) -> datetime | None:
    """The storage service's clock from a boto3 response or error response (its `Date` header; S3's
    RequestTimeTooSkewed also names ServerTime), as an aware UTC datetime; None when it sent none that reads.
    Never raises."""
    from email.utils import parsedate_to_datetime

    try:
        err = response.get("Error", {}) if isinstance(response, dict) else {}
        raw = err.get("ServerTime") if isinstance(err, dict) else None
        if isinstance(raw, str) and raw:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        else:
            headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) if isinstance(response, dict) else {}
            date = headers.get("date") if isinstance(headers, dict) else None
            if not isinstance(date, str) or not date:
                return None
            when = parsedate_to_datetime(date)
        return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    except (ValueError, TypeError, AttributeError, IndexError, OverflowError):
        return None


SERVICE_CLOCK = "the storage service's"  # the other clock named in a clock refusal (V6)


def clock_offset(seconds: float, other: str) -> str:
    """A clock's offset from `other` (a clock's name, e.g. "the storage service's") in words, to the nearest
    minute, in the largest whole unit: "2 days ahead of the storage service's", "3 hours behind the storage
    service's" (X6: "behind", never "behind of"). Positive `seconds`: ahead. Never raises."""
    s = round(abs(seconds) / 60) * 60 if abs(seconds) >= 60 else round(abs(seconds))  # a Date has no fractions
    way = f"ahead of {other}" if seconds > 0 else f"behind {other}"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if s >= size:
            n = s // size
            return f"{n} {unit}{'s' if n != 1 else ''} {way}"
    return f"{s} seconds {way}"


# S3's bucket names (3 to 63 characters; the letters, digits, dots, hyphens and underscores botocore accepts,
# beginning and ending with a letter or digit). Checked before any request: a malformed name otherwise comes
# back as botocore's parameter-validation text or a service's "Invalid Request".
# A copy's place under a location (remote.py's shapes: `JobMatcher/<data folder id>/backup_<time>.json`).
ROOT = LOCATION_COPIES
_COPY_FOLDER = re.compile(r"^[0-9a-f]{32}\Z")
_COPY_MANIFEST = re.compile(r"^backup_[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}(_[0-9]{1,3})?\.json\Z")
_BUCKET = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,61}[a-zA-Z0-9]\Z")
# botocore's names for an answer it could not read as S3's (XML it cannot parse, a redirect loop)
_NOT_S3 = {"ResponseParserError", "ResponseStreamingError", "RecursionError"}
# what the storage client raises for an answer or a request that failed: mapped by _error, never shown raw
_CLIENT_FAULTS: tuple[type[BaseException], ...] = (RecursionError,)


class _TooLarge(Exception):
    """Raised from a download's progress callback past its limit: stops the transfer (get_file)."""


def _read_timeout(default: float) -> float:
    """Seconds a request to S3 may wait for an answer: `default`, or JOBMATCHER_S3_READ_TIMEOUT_SECONDS when
    set to a positive number (the tests' stalled servers, so they wait seconds, not minutes). Never raises."""
    try:
        value = float(os.environ.get("JOBMATCHER_S3_READ_TIMEOUT_SECONDS", ""))
    except ValueError:
        return default
    return value if 0 < value < 3600 else default


_ONE_SHOT = ("checking the bucket", "listing the copies", "reading", "checking the copy", "downloading the copy")


class _NotS3(Exception):
    """The endpoint answered, but not as S3 does (S3Location._head_bucket's probe)."""


def check_address(bucket: str, prefix: str) -> None:
    """Refuse (ValidationError, code "invalid-bucket" / "invalid-prefix") a bucket name S3 would not accept, or
    a prefix with empty, `.` or `..` folder names or control characters; nothing is sent anywhere."""
    if not isinstance(bucket, str) or not _BUCKET.match(bucket):
        raise ValidationError(
            f"{bucket!r} is not a valid bucket name.",
            "Bucket names have 3 to 63 letters, digits, dots or hyphens: write the address as s3://BUCKET/PREFIX.",
            "Bucket names have 3 to 63 letters, digits, dots or hyphens.",
            code="invalid-bucket",
            bucket=bucket,
        )
    parts = prefix.rstrip("/").split("/") if prefix.strip("/") else []  # a leading / is an empty first name
    if any(p in ("", ".", "..") for p in parts) or any(not c.isprintable() for c in prefix) or len(prefix) > 900:
        raise ValidationError(
            f"{prefix!r} is not a valid prefix.",
            "Write the prefix as folder names separated by /, without empty names, '.' or '..' "
            "(for example jobmatcher/laptop).",
            "Type the folder in the bucket as names separated by /, without empty names, '.' or '..' "
            "(for example jobmatcher/laptop), or leave it empty.",
            code="invalid-prefix",
            prefix=prefix,
        )


def without_userinfo(url: str | None) -> str | None:
    """`url` without a user name and password (`https://user:pass@host` → `https://host`), for showing and
    logging: secrets are never shown or logged. None stays None. Never raises."""
    if not url or "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=host))
    except ValueError:
        return "(an endpoint URL that cannot be read)"


def check_endpoint_url(url: str | None) -> str | None:
    """The endpoint URL as given (None or "" → None) when it is one S3 can use.

    Raises ValidationError (code "invalid-endpoint") when it does not start with http:// or https://, or holds a
    user name or password (`https://user:pass@host`): S3 signs requests with the access keys, never with a
    password in the address, and a secret written there would be shown and logged with the address. The
    message never repeats the password."""
    if not url:
        return None
    shown = without_userinfo(url)
    if not url.startswith(("http://", "https://")):
        raise ValidationError(
            f"{shown!r} is not an endpoint URL.",
            "It starts with https:// (for example https://s3.eu-central-003.backblazeb2.com).",
            code="invalid-endpoint",
        )
    if shown != url:
        raise ValidationError(
            f"The endpoint URL {shown} holds a user name or password (before an @); S3 storage does not use them.",
            "Write the address without them; give the access key id and secret key as the storage's keys instead.",
            code="invalid-endpoint",
        )
    from urllib.parse import urlsplit

    example = (
        "Copy the address again from your storage provider (for example https://s3.eu-central-003.backblazeb2.com)."
    )
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": a [ without its ] (Y2)
        raise ValidationError(
            f"{shown!r} is not an endpoint URL: its host name opens with [ but has no closing ].",
            example,
            code="invalid-endpoint",
        ) from None
    if parts.query or parts.fragment or "?" in url or "#" in url:
        # botocore refuses a query ("was not a valid URI", which read as a network fault) and drops a
        # fragment without a word: neither is what was typed (Y2)
        raise ValidationError(
            f"{shown!r} is not an endpoint URL: an endpoint URL has no ?… or #… part.",
            "Give only https://host[:port] (for example https://s3.eu-central-003.backblazeb2.com).",
            code="invalid-endpoint",
        )
    try:
        port = parts.port
    except ValueError:  # "Port out of range 0-65535", or not a number
        port = 0
    if port == 0:
        raise ValidationError(
            f"{shown!r} is not an endpoint URL: the port after the host name is not a number from 1 to 65535.",
            example,
            code="invalid-endpoint",
        )
    # What boto3 itself accepts (botocore.utils, the check behind its "Invalid endpoint" ValueError), asked here
    # so the address is refused at input in words, not as an unexpected error when the client is made (X14).
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    if not (is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url)):
        raise ValidationError(
            f"{shown!r} is not an endpoint URL: its host name has a character a host name cannot have "
            "(a space, %, _ or another sign).",
            example,
            code="invalid-endpoint",
        )
    return url


def check_region(region: str | None) -> str | None:
    """The region as given (None or "" → None) when it is one S3 can use: letters, digits and hyphens, as
    botocore.utils.validate_region_name accepts (the check boto3 makes when a client is created).

    Raises ValidationError (code "invalid-region") otherwise (X14: botocore's InvalidRegionError was an
    unexpected error)."""
    if not region:
        return None
    from botocore.exceptions import InvalidRegionError
    from botocore.utils import validate_region_name

    try:
        validate_region_name(region)
    except InvalidRegionError:
        # botocore's rule: a host label (at most 63 letters, digits and hyphens, not all digits, no hyphen at
        # either end); say which part of it is broken (Y2)
        if len(region) > 63:
            why = f"it is {len(region)} characters long, and a region has at most 63"
        elif region.isascii() and region.replace("-", "").isalnum() and region[:1] == "-":
            why = "it starts with a hyphen"
        elif region.isascii() and region.replace("-", "").isalnum() and region[-1:] == "-":
            why = "it ends with a hyphen"
        elif region.isascii() and region.isdigit():
            why = "it is only digits"
        else:
            why = "a region is letters, digits and hyphens"
        raise ValidationError(
            f"{region!r} is not a storage region: {why} (for example eu-central-1).",
            "Copy the region from your storage provider, or leave it out.",
            code="invalid-region",
        ) from None
    return region


class S3Location(LocationClient):
    """Copies kept under `prefix` in `bucket` at `endpoint_url` (None: AWS itself)."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        region: str | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        # a password in the address is never used nor shown (check_endpoint_url refuses it at input)
        self.endpoint_url = without_userinfo(endpoint_url) or None
        self._keys = (access_key_id, secret_access_key)
        self.region = region or "us-east-1"
        self.spool_dir = Path(spool_dir) if spool_dir else None
        self._client = None
        self._probe = None

    def describe(self) -> str:
        """s3://bucket/prefix (at the endpoint, when one is set). Never raises."""
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where

    # -- boto3 ---------------------------------------------------------------------

    @property
    def client(self):
        """The boto3 S3 client, made on first use. Raises ImportError only if boto3 is missing."""
        if self._client is None:
            # a transfer that stalls: 20 s per read, retried twice (3 attempts) once the place has answered
            self._client = self._make_client(read_timeout=_read_timeout(20), attempts=3)
        return self._client

    @property
    def probe_client(self):
        """The client of the first request to a place (HEAD of the bucket): one attempt, 5 s to connect and 10 s
        to answer. A server that accepts connections but never answers (a black-holing firewall, a captive
        portal, a NAS's wrong port) is reported within 15 s, not after a minute and more of retries (T11); a
        place that answered is then used with retries (`client`). Raises ImportError only if boto3 is missing."""
        if self._probe is None:
            self._probe = self._make_client(read_timeout=_read_timeout(10), attempts=1)
        return self._probe

    def _make_client(self, read_timeout: float, attempts: int):
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=5,
            read_timeout=read_timeout,
            # total_max_attempts counts the first one; botocore's "max_attempts" counts only the retries (it
            # was 3 here: 4 attempts of 20 s, the tester's 82 s of silence before "cannot be reached", T11)
            retries={"total_max_attempts": attempts, "mode": "standard"},
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            # checksums only where we ask for them (SHA-256 on uploads): the newer default CRC trailers
            # are refused by several S3-compatible services
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session(
            aws_access_key_id=self._keys[0] or None,
            aws_secret_access_key=self._keys[1] or None,
            region_name=self.region,
        )
        # A location written before these were checked at input (or locations.json edited by hand): the
        # same words as at input, not botocore's ValueError as an unexpected error (X14).
        check_endpoint_url(self.endpoint_url)
        check_region(None if self.region == "us-east-1" else self.region)
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)

    def _transfer_config(self):
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNKSIZE,
            max_concurrency=4,
            use_threads=True,
            # botocore's retries (3 attempts of read_timeout) are the only ones: s3transfer's own 5 download
            # attempts, each a get_object with botocore's 3, made a stalled download wait 261 s (X19)
            num_download_attempts=1,
        )

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, e: Exception, action: str, folder: Path | None = None) -> JobMatcherError:
        """A boto3/botocore failure in the user's words."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ParamValidationError,
            ReadTimeoutError,
        )

        last = getattr(e, "last_exception", None)
        if type(e).__name__ == "RetriesExceededError" and isinstance(last, Exception):
            # boto3's (and s3transfer's) "Max Retries Exceeded" wraps what went wrong (a read that timed out,
            # botocore's or the socket's): name that (X19)
            return self._error(last, action, folder)
        where = self.describe()
        if isinstance(e, (RecursionError, _NotS3)) or type(e).__name__ in _NOT_S3:
            # botocore recurses (its region-redirect handler re-sends) or cannot parse on an answer that is not
            # S3's: a web page, a console URL pasted as the endpoint (L27)
            return LocationUnavailableError(
                f"{self.endpoint_url or 'AWS'} did not answer as S3 storage while {action} for {where}.",
                "Check the endpoint URL: it is the storage service's S3 address, not its web page.",
                reason="not-s3",
            )
        # a one-shot look (adding a location, listing or fetching copies) is not retried: say what to check
        later = (
            "Check the bucket, the prefix and the endpoint URL."
            if action in _ONE_SHOT
            else "The copy is retried later; check the service's status if this persists."
        )
        if isinstance(e, ParamValidationError):  # botocore's own text names regexes: never shown
            return ValidationError(
                f"The address of the backup location {where} is not valid for S3.",
                "Check the bucket name and the prefix.",
                code="invalid-address",
            )
        if isinstance(e, NoCredentialsError):
            return LocationCredentialsError(
                f"No access keys are set for the backup location {where}.",
                self._hint(
                    "Remove the location and add it again with its access keys.",
                    "Give the storage's access key id and secret key (for the command line: AWS_ACCESS_KEY_ID "
                    "and AWS_SECRET_ACCESS_KEY).",
                ),
            )
        if isinstance(e, ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket" or (code in ("404", "NotFound") and action == "checking the bucket"):
                return LocationUnavailableError(
                    f"The bucket '{self.bucket}' does not exist at {self.endpoint_url or 'AWS'}.",
                    self._hint(
                        "Create the bucket (or correct its name); copies are caught up then.",
                        "Check the bucket's name and the endpoint URL.",
                        "Check that the bucket is still there at the storage service, then try again.",
                    ),
                    bucket_missing=True,
                )
            if code == "RequestTimeTooSkewed" or code in _CREDENTIAL_CODES or status == 403:
                clock = self._clock_error(e.response, code == "RequestTimeTooSkewed")
                if clock is not None:
                    return clock
            if code in _CREDENTIAL_CODES or status == 403:
                return LocationCredentialsError(
                    f"The storage service at {where} refused the access keys ({err.get('Message') or code}).",
                    self._hint(
                        "Check the access key id and secret key; remove the location and add it again with the "
                        "right ones.",
                        "Check the access key id and secret key (for the command line: AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY).",
                    ),
                )
            if code in ("EntityTooLarge", "QuotaExceeded", "InsufficientStorage") or status == 507:
                return LocationCopyFailedError(
                    f"The storage at {where} is full or over its quota ({code}).",
                    "Free up space there or raise the quota; the copy is retried later.",
                )
            return LocationCopyFailedError(
                f"The storage service at {where} refused {action}: {err.get('Message') or code} ({code or status}).",
                later,
                code="location-refused",
                service_code=code,
                status=status,
            )
        if isinstance(
            e, (ReadTimeoutError, TimeoutError)
        ):  # connected, then silence: say so, not the library's words (T11)
            return LocationUnavailableError(
                f"The backup location {where} cannot be reached: {self.endpoint_url or 'the service'} accepted the "
                f"connection but sent no answer while {action}.",
                self._hint(
                    "Check the network connection; copies are caught up when it is back.",
                    "Check the endpoint URL (its port) and whether a firewall or the network's sign-in page holds "
                    "the connection, then try again.",
                    "Check the network connection (and whether a firewall or the network's sign-in page holds it), "
                    "then try again.",
                ),
            )
        if isinstance(e, (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)):
            return LocationUnavailableError(
                f"The backup location {where} cannot be reached ({_scrub(str(e))}).",
                self._hint(
                    "Check the network connection; copies are caught up when it is back.",
                    "Check the network connection and the endpoint URL, then try again.",
                    "Check the network connection, then try again.",
                ),
            )
        if type(e).__name__ == "EndpointResolutionError":  # "was not a valid URI": nothing was asked (Y2)
            return ValidationError(
                f"{without_userinfo(self.endpoint_url)!r} is not an endpoint URL S3 storage can use.",
                "Give only https://host[:port] (for example https://s3.eu-central-003.backblazeb2.com).",
                code="invalid-endpoint",
            )
        if isinstance(e, BotoCoreError):
            return LocationUnavailableError(
                f"The backup location {where} did not answer properly while {action}.",
                "Check the network connection and the endpoint URL"
                + ("." if action in _ONE_SHOT else "; the copy is retried later."),
                reason=type(e).__name__,
            )
        if isinstance(e, OSError):
            from ..causes import explain

            cause = explain(e, f"{action} for {where}", folder)  # the cause in JobMatcher's words, not errno's
            return LocationCopyFailedError(
                cause.message if cause else f"Could not finish {action} for {where}.",
                f"Check the disk of {folder or 'your data folder'}"
                + (", then try again." if action in _ONE_SHOT else "; the copy is retried later."),
            )
        # a one-shot action (a restore, a list) is not retried by anyone: never say it is (X19)
        return LocationCopyFailedError(
            f"Could not finish {action} for {where}: {e}.",
            "Check the network connection and the service's status, then try again."
            if action in _ONE_SHOT
            else "The copy is retried later.",
        )

    def _clock_error(self, response: dict, told: bool) -> LocationClockError | None:
        """The refusal `response` said as this computer's clock being off (V6), when the service's clock (its
        answer's Date) is more than CLOCK_TOLERANCE_SECONDS from this computer's, or the service said so
        (`told`: RequestTimeTooSkewed); None otherwise (then the keys are what was refused). Never raises."""
        server = server_time(response)
        skew = None if server is None else (datetime.now(timezone.utc) - server).total_seconds()
        if skew is None and not told:
            return None
        if skew is not None and abs(skew) <= CLOCK_TOLERANCE_SECONDS and not told:
            return None
        off = (
            f"this computer's clock is {clock_offset(skew, SERVICE_CLOCK)} (it says "
            f"{server:%Y-%m-%d %H:%M} UTC, this computer {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)"
            if skew is not None and server is not None
            else "this computer's clock is off from the storage service's"
        )
        return LocationClockError(
            f"The storage service at {self.describe()} refused the request because {off}: S3 storage refuses "
            "requests whose time is more than 15 minutes off. The access keys were not the problem.",
            self._hint(
                "Set this computer's date and time right (turn on setting the time automatically); the copies "
                "are then made by themselves.",
                "Set this computer's date and time right (turn on setting the time automatically), then try again.",
                "Set this computer's date and time right (turn on setting the time automatically), then try again.",
            ),
            skew_seconds=None if skew is None else round(skew),
        )

    def _hint(self, configured: str, inline: str, reading: str | None = None) -> str:
        """The hint for a configured location, or for a place only looked into (disaster recovery: nothing to
        remove, no copies being made), or (`reading`, when given) for a configured location only read from (a
        restore from it: no copies being made there either). Never raises."""
        if not self.configured or self.adding:
            return inline
        return reading if self.reading and reading is not None else configured

    def _call(self, action: str, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except (BotoCoreError, ClientError, *_CLIENT_FAULTS) as e:
            raise self._error(e, action) from None

    # -- availability ----------------------------------------------------------------

    def _head_bucket(self) -> None:
        """HEAD the bucket. A 404 has no body to tell a missing bucket from a server that is not S3 at all (any
        web server answers 404 to an unknown path): a GET of the bucket's listing then does, as S3 names the
        error (NoSuchBucket) where a web page does not (L27, its 404 variant). Raises as _call."""
        from botocore.exceptions import ClientError

        try:
            self._call("checking the bucket", self.probe_client.head_bucket, Bucket=self.bucket)
        except LocationUnavailableError as e:
            if not getattr(e, "bucket_missing", False):
                raise
            try:
                self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
            except ClientError as probe:
                if str(probe.response.get("Error", {}).get("Code", "")) == "NoSuchBucket":
                    raise e from None
            except Exception:  # noqa: BLE001 - anything else (no answer, an unparseable one): not S3's
                pass
            raise self._error(_NotS3(), "checking the bucket") from None

    def reachable(self) -> None:
        """As LocationClient.reachable: the bucket answers the one-attempt probe (HEAD), within its time limit."""
        check_address(self.bucket, self.prefix)
        self._head_bucket()

    def check(self) -> None:
        """As LocationClient.check: the bucket answers and holds the marker under the prefix."""
        check_address(self.bucket, self.prefix)
        self._head_bucket()
        try:
            self.get_bytes(MARKER_KEY)
        except FileNotFoundError:
            if self._copies_there():  # copies there, the marker lost (FINDINGS20 1): not "not the place"
                raise LocationUnavailableError(
                    f"The backup location {self.describe()} holds JobMatcher copies, but JobMatcher's marker "
                    f"({MARKER_KEY}) is missing there (left out when the copies were copied or replicated, or "
                    "deleted), so JobMatcher cannot be sure it is this location's place. Nothing is written or "
                    "deleted there; the copies stay and can still be restored.",
                    "If this is the place of your copies, remove the location and add the same bucket and prefix "
                    "again (with the same passphrase): the marker is written again and the copies there join it."
                    if self.configured
                    else "Its copies can still be listed and restored.",
                    code="location-marker-missing",
                    reason="marker-missing",
                ) from None
            raise LocationUnavailableError(
                f"The backup location {self.describe()} is reachable but JobMatcher's marker ({MARKER_KEY}) is "
                "missing there, so it is not the place the copies were written to. Nothing is written there.",
                "Check the bucket and prefix. If it was emptied on purpose, remove the location and add it again.",
                reason="no-marker",
            ) from None

    def _copies_there(self) -> bool:
        """Whether the first keys of JobMatcher's folder of copies under the prefix (one listing request) include
        a copy's manifest (`JobMatcher/<data folder id>/backup_<time>.json`). Never raises (False when it cannot
        be listed: the marker's own refusal then stands)."""
        try:
            answer = self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=f"{self.prefix}/{ROOT}/" if self.prefix else f"{ROOT}/", MaxKeys=100
            )
        except Exception:  # noqa: BLE001 - advice only
            return False
        strip = len(self.prefix) + 1 if self.prefix else 0
        for item in answer.get("Contents") or []:
            parts = str(item.get("Key", ""))[strip:].split("/")
            if len(parts) == 3 and _COPY_FOLDER.match(parts[1]) and _COPY_MANIFEST.match(parts[2]):
                return True
        return False

    def initialize(self) -> None:
        """As LocationClient.initialize (the bucket must exist: it is never created)."""
        check_address(self.bucket, self.prefix)
        self._head_bucket()
        try:
            self.get_bytes(MARKER_KEY)
            return
        except FileNotFoundError:
            pass
        body = json.dumps(
            {"format": 1, "app": "JobMatcher", "created_at": datetime.now(timezone.utc).isoformat()}
        ).encode()
        self.put_bytes(MARKER_KEY, body)

    # -- writing -------------------------------------------------------------------------

    def _spool(self) -> Path:
        # .NAME.PID.tmp: the launch's remove_dead_temp_files() deletes it if this process dies
        folder = self.spool_dir or Path(os.environ.get("TMPDIR", "/tmp"))
        return folder / f".location-upload-{uuid.uuid4().hex[:12]}.{os.getpid()}.tmp"

    def put_stream(
        self, key: str, produce: Producer, progress: ByteProgress | None = None, size_hint: int = 0
    ) -> Stored:
        """Produce into a spool file in `spool_dir` (S3 needs a seekable, retryable source), then upload it; the
        manager sets `spool_dir` to the backup's own folder, whose disk holds the backup already (L12).
        Raises as LocationClient.put_stream (a spool file that cannot be written: named, not OSError)."""
        spool = self._spool()
        if size_hint:  # before writing: the ciphertext is about the backup's size (L12)
            require_free_space(
                spool.parent,
                size_hint + SPOOL_MARGIN,
                f"preparing the copy for {self.describe()}",
                why="the encrypted copy is prepared there before it is uploaded",
                place="backup-folder",
            )
        try:
            fd = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
            with os.fdopen(fd, "wb") as raw:
                w = PipelinedWriter(raw, md5=True)  # hashed and written on a thread, beside age
                w.produce_with(produce)
            stored = Stored(w.size, w.sha256.hexdigest())
            self._upload(key, spool, stored, w.md5, progress)
            return stored
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):  # filled meanwhile: the numbers, never the errno text
                raise space_error(
                    spool.parent,
                    max(size_hint, 1) + SPOOL_MARGIN,
                    free_space(spool.parent),
                    f"preparing the copy for {self.describe()}",
                    "the encrypted copy is prepared there before it is uploaded",
                    "backup-folder",
                ) from None
            raise self._error(e, "preparing the copy", spool.parent) from None
        finally:
            remove_quietly(spool)

    def put_file(self, key: str, src: Path, sha256: str, progress: ByteProgress | None = None) -> Stored:
        """As LocationClient.put_file (OSError when `src` cannot be read)."""
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            with open(src, "rb") as f:
                while chunk := f.read(4 * MB):
                    md5.update(chunk)
                    size += len(chunk)
        except OSError as e:
            e.filename = e.filename if e.filename is not None else str(src)
            if read_failed(e, src):  # the backup's drive, not the storage (X7)
                raise SourceUnreadable(e) from None
            raise
        stored = Stored(size, sha256)
        self._upload(key, src, stored, md5, progress)
        return stored

    def put_bytes(self, key: str, data: bytes) -> None:
        """As LocationClient.put_bytes (LocationCopyFailedError when it does not read back identical)."""
        import base64

        digest = hashlib.sha256(data).digest()
        self._call(
            "storing a small file",
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ChecksumSHA256=base64.b64encode(digest).decode(),
        )
        if self.get_bytes(key, len(data)) != data:
            raise LocationCopyFailedError(
                f"{key} did not read back identical from {self.describe()}.", "The copy is retried later."
            )

    def _upload(self, key: str, src: Path, stored: Stored, whole_md5, progress: ByteProgress | None) -> None:
        from boto3.exceptions import S3UploadFailedError

        full = self._key(key)
        done = 0

        def callback(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, stored.size)

        try:
            self.client.upload_file(
                str(src),
                self.bucket,
                full,
                Config=self._transfer_config(),
                Callback=callback,
                ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": stored.sha256}},
            )
        except S3UploadFailedError as e:  # s3transfer wraps the ClientError (and aborts the multipart upload)
            cause = e.__cause__ or e.__context__
            from botocore.exceptions import BotoCoreError, ClientError

            if isinstance(cause, (BotoCoreError, ClientError)):
                raise self._error(cause, "uploading the copy") from None
            raise LocationCopyFailedError(
                f"Uploading to {self.describe()} failed: {e}.", "The copy is retried later."
            ) from None
        except Exception as e:  # noqa: BLE001 - botocore errors, connection resets inside the transfer threads
            raise self._error(e, "uploading the copy") from None
        self._confirm(key, src, stored, whole_md5)

    def _expected_etag(self, src: Path, size: int, whole_md5) -> str:
        """The ETag S3 gives an object uploaded with our transfer settings (MD5, or MD5 of part MD5s + '-N')."""
        if size < MULTIPART_THRESHOLD:
            return whole_md5.hexdigest()
        from s3transfer.utils import ChunksizeAdjuster

        part = ChunksizeAdjuster().adjust_chunksize(MULTIPART_CHUNKSIZE, size)
        digests = []
        with open(src, "rb") as f:
            while chunk := f.read(part):
                digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
        return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"

    def _confirm(self, key: str, src: Path, stored: Stored, whole_md5) -> None:
        """Count the upload only once the stored object provably holds what was sent; else delete it."""
        head = self._call("checking the copy", self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        etag = str(head.get("ETag", "")).strip('"')
        ok = head.get("ContentLength") == stored.size
        if ok:
            if etag == self._expected_etag(src, stored.size, whole_md5):
                return
            # The ETag is not an MD5 here (server-side encryption, some providers): read it back.
            h = hashlib.sha256()
            body = self._call("reading the copy back", self.client.get_object, Bucket=self.bucket, Key=self._key(key))[
                "Body"
            ]
            for chunk in body.iter_chunks(4 * MB):
                h.update(chunk)
            ok = h.hexdigest() == stored.sha256
        if not ok:
            try:
                self.delete(key)
            finally:
                raise LocationCopyFailedError(
                    f"The copy at {self.describe()} did not match what was sent; it was deleted.",
                    "The copy is retried later.",
                )

    # -- reading ------------------------------------------------------------------------

    def get_file(self, key: str, dest: Path, progress: ByteProgress | None = None, limit: int | None = None) -> int:
        """As LocationClient.get_file: an object longer than `limit` is refused from its length before any
        download, and a download that passes `limit` (the object replaced meanwhile) is stopped there."""
        from botocore.exceptions import ClientError

        done = 0
        total = 0

        def callback(n: int) -> None:
            nonlocal done
            done += n
            if limit is not None and done > limit:
                raise _TooLarge
            if progress:
                progress(done, total)

        try:
            total = self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]
            if limit is not None and total > limit:
                raise _TooLarge
            self.client.download_file(
                self.bucket, self._key(key), str(dest), Config=self._transfer_config(), Callback=callback
            )
        except _TooLarge:
            remove_quietly(dest)
            raise copy_too_large(key.rsplit("/", 1)[-1], self.describe(), limit or 0) from None
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(key) from None
            raise self._error(e, "downloading the copy") from None
        except Exception as e:  # noqa: BLE001
            raise self._error(e, "downloading the copy") from None
        return os.path.getsize(dest)

    def get_bytes(self, key: str, limit: int | None = None) -> bytes:
        """As LocationClient.get_bytes: at most `limit` bytes are read (an object replaced by a larger one is
        refused from its length, never downloaded whole)."""
        from botocore.exceptions import BotoCoreError, ClientError

        limit = small_limit(key) if limit is None else limit
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = resp["Body"]
            try:
                data = body.read(limit + 1) if int(resp.get("ContentLength") or 0) <= limit else None
            finally:
                body.close()
            if data is None or len(data) > limit:
                raise LocationCopyFailedError(
                    f"{key} at {self.describe()} is larger than any object JobMatcher writes there: it is not read.",
                    "Remove it from the location; the copies are made again there.",
                    reason="too-large",
                )
            return data
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(key) from None
            raise self._error(e, "reading") from None
        except (BotoCoreError, *_CLIENT_FAULTS) as e:
            raise self._error(e, "reading") from None

    def list(self, prefix: str) -> list[ObjectInfo]:
        """As LocationClient.list."""
        if ".." in prefix:
            raise ValueError(f"not a location prefix: {prefix!r}")
        full = (self.prefix + "/" if self.prefix else "") + prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        out = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for o in page.get("Contents", []):
                    out.append(ObjectInfo(o["Key"][strip:], int(o["Size"])))
        except Exception as e:  # noqa: BLE001
            from botocore.exceptions import BotoCoreError, ClientError

            if isinstance(e, (BotoCoreError, ClientError, *_CLIENT_FAULTS)):
                raise self._error(e, "listing the copies") from None
            raise
        return sorted(out, key=lambda o: o.key)

    def delete(self, key: str) -> None:
        """As LocationClient.delete."""
        self._call("deleting an old copy", self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def abort_stale_uploads(self, prefix: str) -> int:
        """Abort multipart uploads a killed process left under `prefix` (this data folder's own); returns how many.
        Never raises (housekeeping: a service that cannot list uploads is left alone)."""
        n = 0
        try:
            resp = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self._key(prefix.rstrip("/")))
            # an upload's age by the service's own clock (its answer's Date), which dated it: this computer's
            # clock, if ahead, would make a running upload look an hour old. Without that date, nothing is aborted.
            now = server_time(resp)
            for u in resp.get("Uploads", []):
                started = u.get("Initiated")
                if started and now is not None and (now - started).total_seconds() > 3600:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=u["Key"], UploadId=u["UploadId"])
                    n += 1
        except Exception:  # noqa: BLE001 - housekeeping only; not every service lists uploads
            pass
        return n
