"""C2SP signed notes and tlog checkpoints: reference vectors, tampering, strict parsing."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.ledger.note import (
    MAX_SIGNATURES,
    Checkpoint,
    NoteFormatError,
    NoteVerificationError,
    NoteVerifier,
    check_key_name,
    format_body,
    key_id,
    open_checkpoint,
    open_note,
    parse_body,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    signer_key,
    verifier_key,
)

# --- Reference vectors ---------------------------------------------------------------------
# The example keys, text and signatures of the Go reference implementation of signed notes,
# golang.org/x/mod/sumdb/note (note_test.go: TestNewVerifier, TestSign, TestOpen). Ed25519
# is deterministic (RFC 8032), so signing the text must reproduce the published note byte
# for byte. Only the values are taken, no code.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# The example checkpoint body of the C2SP tlog-checkpoint specification.
SPEC_CHECKPOINT_BODY = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)

LOG_NAME = "registry.example/ledger"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
CHECKPOINT = Checkpoint(LOG_NAME, 8, ROOT)


def log_keys() -> dict[str, object]:
    return {LOG_NAME: LOG_KEY.public_key()}


def _reason(note: str | bytes, known: object) -> str:
    with pytest.raises(NoteVerificationError) as info:
        open_note(note, known)  # type: ignore[arg-type]
    return info.value.reason


# --- Go reference implementation -----------------------------------------------------------


def test_reference_keys_parse_and_reencode() -> None:
    peter = parse_verifier_key(PETER_VKEY)
    assert peter.name == "PeterNeumann"
    assert peter.key_id == bytes.fromhex("c74f20a3")
    assert verifier_key(peter.name, peter.public_key) == PETER_VKEY
    name, private_key = parse_signer_key(PETER_SKEY)
    assert name == "PeterNeumann"
    assert key_id(name, private_key.public_key()) == bytes.fromhex("c74f20a3")
    assert signer_key(name, private_key) == PETER_SKEY
    assert verifier_key(name, private_key.public_key()) == PETER_VKEY


def test_signing_reproduces_the_reference_note_byte_for_byte() -> None:
    name, private_key = parse_signer_key(PETER_SKEY)
    assert sign_note(TEXT, name, private_key) == TEXT + "\n" + PETER_SIG


def test_open_reference_notes() -> None:
    peter, enoch = parse_verifier_key(PETER_VKEY), parse_verifier_key(ENOCH_VKEY)
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    # One known key: the other signature is ignored.
    assert open_note(both, [peter]) == (TEXT, ["PeterNeumann"])
    assert open_note(both, [PETER_VKEY]) == (TEXT, ["PeterNeumann"])
    assert open_note(both, {"EnochRoot": enoch.public_key}) == (TEXT, ["EnochRoot"])
    assert open_note(both.encode("utf-8"), [peter]) == (TEXT, ["PeterNeumann"])
    # Both known.
    assert open_note(both, [peter, enoch]) == (TEXT, ["PeterNeumann", "EnochRoot"])
    # Neither known.
    with pytest.raises(NoteVerificationError, match="no signature from a known key") as info:
        open_note(both, [])
    assert info.value.reason == "unknown-key"
    assert "PeterNeumann+c74f20a3" in str(info.value) and "EnochRoot+af0cfe78" in str(info.value)
    # Repeated signatures count once; a corrupt signature by an unknown key is ignored.
    corrupt_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    repeated = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + corrupt_enoch
    assert open_note(repeated, [peter]) == (TEXT, ["PeterNeumann"])


def test_reference_invalid_signature_is_rejected() -> None:
    bad = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(
        NoteVerificationError, match=r"invalid signature for key PeterNeumann\+c74f20a3"
    ):
        open_note(bad, [PETER_VKEY])


def test_too_many_signatures_is_malformed() -> None:
    note = TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1)
    assert _reason(note, [PETER_VKEY]) == "malformed"
    assert _reason(note, []) == "malformed"
    assert open_note(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, [PETER_VKEY])[1] == ["PeterNeumann"]


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
        TEXT + "\n" + PETER_SIG.replace("\u2014 ", "\u2014"),
        TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),  # unpadded base64
        TEXT + "\n" + PETER_SIG.replace("AM=", "AN="),  # non-canonical base64
        TEXT + "\n" + "\u2014 PeterNeumann AAAA\n",  # no room for a signature
        TEXT + "\n" + "\u2014 PeterNeumann\n",
        TEXT.replace("\n", "\r\n") + "\r\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG + "\n",
        "",
        b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
    ],
    ids=repr,
)
def test_malformed_notes(note: str | bytes) -> None:
    with pytest.raises(NoteVerificationError, match="malformed note") as info:
        open_note(note, [PETER_VKEY])
    assert info.value.reason == "malformed"
    assert isinstance(info.value.__cause__, NoteFormatError)


def _manglings(key: str) -> list[str]:
    out = [key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)]
    out.remove(key)
    out += [key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))]
    return out


def test_every_mangled_verifier_key_is_rejected() -> None:
    for bad in _manglings(PETER_VKEY):
        with pytest.raises(NoteFormatError):
            parse_verifier_key(bad)
    # From the reference suite: a wrong length key and an unknown algorithm byte, each with
    # the key id adjusted to match.
    for bad in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(NoteFormatError):
            parse_verifier_key(bad)


@pytest.mark.parametrize(
    ("material", "complaint"),
    [
        (b"\x01" + bytes(31), "31 bytes, not 32"),
        (b"\x01" + bytes(33), "33 bytes, not 32"),
        (b"\x02" + bytes(32), "unsupported signature algorithm"),
        (b"", "unsupported signature algorithm"),
    ],
)
def test_verifier_key_checks_algorithm_and_length(material: bytes, complaint: str) -> None:
    # The key id computed over the material as given, so only the named check can fail.
    kid = hashlib.sha256(b"name\n" + material).digest()[:4].hex()
    with pytest.raises(NoteFormatError, match=complaint):
        parse_verifier_key(f"name+{kid}+{base64.b64encode(material).decode()}")


def test_every_mangled_signer_key_is_rejected() -> None:
    for bad in _manglings(PETER_SKEY):
        with pytest.raises(NoteFormatError):
            parse_signer_key(bad)


# --- Keys ----------------------------------------------------------------------------------


def test_key_id_is_sha256_of_name_newline_type_and_key() -> None:
    public = LOG_KEY.public_key()
    raw = public.public_bytes_raw()
    expected = hashlib.sha256(LOG_NAME.encode() + b"\n\x01" + raw).digest()[:4]
    assert key_id(LOG_NAME, public) == expected
    assert key_id("other", public) != expected


def test_verifier_and_signer_key_round_trip() -> None:
    vkey = verifier_key(LOG_NAME, LOG_KEY.public_key())
    name, id_hex, material = vkey.split("+", 2)
    assert (name, id_hex) == (LOG_NAME, key_id(LOG_NAME, LOG_KEY.public_key()).hex())
    assert base64.b64decode(material) == b"\x01" + LOG_KEY.public_key().public_bytes_raw()
    parsed = parse_verifier_key(vkey)
    assert parsed == NoteVerifier.of(LOG_NAME, parsed.public_key)
    assert parsed.public_key.public_bytes_raw() == LOG_KEY.public_key().public_bytes_raw()
    assert verifier_key(parsed.name, parsed.public_key) == vkey
    # Upper-case key ids are read (as the reference implementation does), never written.
    assert parse_verifier_key(f"{name}+{id_hex.upper()}+{material}").key_id == parsed.key_id
    skey = signer_key(LOG_NAME, LOG_KEY)
    name2, private_key = parse_signer_key(skey)
    assert name2 == LOG_NAME
    assert private_key.private_bytes_raw() == LOG_KEY.private_bytes_raw()


def test_verifier_key_of_another_name_is_rejected() -> None:
    _, id_hex, material = verifier_key(LOG_NAME, LOG_KEY.public_key()).split("+", 2)
    with pytest.raises(NoteFormatError, match="does not match"):
        parse_verifier_key(f"registry.example/other+{id_hex}+{material}")


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", "trailing ", "\x01"]
)
def test_bad_key_names_are_rejected(name: str) -> None:
    with pytest.raises(NoteFormatError):
        check_key_name(name)
    with pytest.raises(NoteFormatError):
        key_id(name, LOG_KEY.public_key())
    with pytest.raises(NoteFormatError):
        verifier_key(name, LOG_KEY.public_key())
    with pytest.raises(NoteFormatError):
        sign_note("text\n", name, LOG_KEY)
    with pytest.raises(NoteFormatError):
        open_note("text\n\n\u2014 x AAAAAAAA\n", {name: LOG_KEY.public_key()})


@pytest.mark.parametrize("name", ["log", "example.com/log42", "ключ", "a-b_c.d/e~f"])
def test_good_key_names(name: str) -> None:
    assert check_key_name(name) == name
    note = sign_note("hello\n", name, LOG_KEY)
    assert open_note(note, [verifier_key(name, LOG_KEY.public_key())]) == ("hello\n", [name])


def test_known_keys_forms() -> None:
    note = sign_note("hi\n", LOG_NAME, LOG_KEY)
    public = LOG_KEY.public_key()
    for known in (
        {LOG_NAME: public},
        [NoteVerifier.of(LOG_NAME, public)],
        [verifier_key(LOG_NAME, public)],
        (v for v in [verifier_key(LOG_NAME, public)]),
    ):
        assert open_note(note, known) == ("hi\n", [LOG_NAME])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="single string"):
        open_note(note, verifier_key(LOG_NAME, public))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        open_note(note, [public])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        open_note(note, {LOG_NAME: LOG_KEY})  # type: ignore[dict-item]
    clash = NoteVerifier(LOG_NAME, b"\x00" * 4, public)
    twin = NoteVerifier(LOG_NAME, b"\x00" * 4, OTHER_KEY.public_key())
    with pytest.raises(ValueError, match="ambiguous key"):
        open_note(note, [clash, twin])


# --- Signing and opening -------------------------------------------------------------------


def test_sign_and_open_round_trip() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    body, sig_line = note.split("\n\n")
    assert body + "\n" == format_body(CHECKPOINT)
    assert sig_line.startswith(f"\u2014 {LOG_NAME} ")
    raw = base64.b64decode(sig_line.split(" ")[2])
    assert raw[:4] == key_id(LOG_NAME, LOG_KEY.public_key()) and len(raw) == 68
    assert open_note(note, log_keys()) == (format_body(CHECKPOINT), [LOG_NAME])
    assert open_checkpoint(note, log_keys()) == (CHECKPOINT, [LOG_NAME])
    assert open_checkpoint(note, log_keys(), origin=LOG_NAME) == (CHECKPOINT, [LOG_NAME])


def test_cosigned_note_and_key_rotation() -> None:
    witness = "witness.example/w1"
    log_note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    witness_line = sign_checkpoint(CHECKPOINT, witness, OTHER_KEY).split("\n\n")[1]
    cosigned = log_note + witness_line
    keys = {LOG_NAME: LOG_KEY.public_key(), witness: OTHER_KEY.public_key()}
    assert open_note(cosigned, keys)[1] == [LOG_NAME, witness]
    assert open_note(cosigned, {witness: OTHER_KEY.public_key()})[1] == [witness]
    # A rotated log key under the same name: both old and new keys are trusted.
    rotated = sign_checkpoint(CHECKPOINT, LOG_NAME, OTHER_KEY)
    both = [
        verifier_key(LOG_NAME, LOG_KEY.public_key()),
        verifier_key(LOG_NAME, OTHER_KEY.public_key()),
    ]
    assert open_note(rotated, both)[1] == [LOG_NAME]
    assert open_note(log_note, both)[1] == [LOG_NAME]


def test_signature_by_an_unknown_key_is_rejected() -> None:
    # Same name, another key: the key id differs, so the signature is not from a known key.
    impostor = sign_checkpoint(CHECKPOINT, LOG_NAME, OTHER_KEY)
    with pytest.raises(NoteVerificationError, match="unknown") as info:
        open_note(impostor, log_keys())
    assert info.value.reason == "unknown-key"
    assert key_id(LOG_NAME, OTHER_KEY.public_key()).hex() in str(info.value)
    # Another name, the right key.
    renamed = sign_checkpoint(CHECKPOINT, "someone.else/log", LOG_KEY)
    assert _reason(renamed, log_keys()) == "unknown-key"


def test_forged_signature_with_the_known_key_id_is_a_bad_signature() -> None:
    # The attacker copies the log's name and key id but signs with their own key.
    forged = sign_checkpoint(CHECKPOINT, LOG_NAME, OTHER_KEY)
    text, [sig] = parse_note(forged)
    real_id = key_id(LOG_NAME, LOG_KEY.public_key())
    line = f"\u2014 {LOG_NAME} {base64.b64encode(real_id + sig.signature).decode()}\n"
    with pytest.raises(NoteVerificationError, match="invalid signature for key") as info:
        open_note(text + "\n" + line, log_keys())
    assert info.value.reason == "bad-signature"
    # A known key's signature of the wrong length is a bad signature, too.
    short = f"\u2014 {LOG_NAME} {base64.b64encode(real_id + sig.signature[:63]).decode()}\n"
    assert _reason(text + "\n" + short, log_keys()) == "bad-signature"
    # A bad signature from a known key rejects the note even next to a good one.
    good = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    assert _reason(good + line, log_keys()) == "bad-signature"


def test_tampering_with_any_character_of_a_signed_note_fails() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    reasons = set()
    for i, ch in enumerate(note):
        for replacement in {chr(ord(ch) ^ 1), chr(ord(ch) ^ 0x40), "x"} - {ch}:
            tampered = note[:i] + replacement + note[i + 1 :]
            reasons.add(_reason(tampered, log_keys()))
    assert reasons == {"malformed", "bad-signature", "unknown-key"}


def test_tampering_with_any_bit_of_the_signature_fails() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    text, [sig] = parse_note(note)
    raw = sig.key_id + sig.signature
    for byte in range(len(raw)):
        for bit in range(8):
            changed = bytearray(raw)
            changed[byte] ^= 1 << bit
            line = f"\u2014 {LOG_NAME} {base64.b64encode(bytes(changed)).decode()}\n"
            expected = "unknown-key" if byte < 4 else "bad-signature"
            assert _reason(text + "\n" + line, log_keys()) == expected


def test_tampering_with_the_key_name_fails() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    tampered = note.replace(f"\u2014 {LOG_NAME} ", f"\u2014 {LOG_NAME}x ")
    assert _reason(tampered, log_keys()) == "unknown-key"
    # Even when the tampered name is also trusted (under the same key).
    keys = {LOG_NAME: LOG_KEY.public_key(), LOG_NAME + "x": LOG_KEY.public_key()}
    assert _reason(tampered, keys) == "unknown-key"


def test_open_checkpoint_checks_origin_and_body() -> None:
    note = sign_checkpoint(CHECKPOINT, LOG_NAME, LOG_KEY)
    with pytest.raises(NoteVerificationError, match="expected 'other.example/log'") as info:
        open_checkpoint(note, log_keys(), origin="other.example/log")
    assert info.value.reason == "wrong-origin"
    not_a_checkpoint = sign_note("hello\nworld\n", LOG_NAME, LOG_KEY)
    assert open_note(not_a_checkpoint, log_keys())[0] == "hello\nworld\n"
    with pytest.raises(NoteVerificationError, match="malformed checkpoint") as info:
        open_checkpoint(not_a_checkpoint, log_keys())
    assert info.value.reason == "malformed"


@pytest.mark.parametrize("body", ["", "no newline", "a\x01\n", "crlf\r\n", "tab\there\n", 5])
def test_sign_note_rejects_bad_text(body: object) -> None:
    with pytest.raises(NoteFormatError):
        sign_note(body, LOG_NAME, LOG_KEY)  # type: ignore[arg-type]


def test_sign_note_rejects_non_ed25519_keys() -> None:
    with pytest.raises(TypeError):
        sign_note("x\n", LOG_NAME, LOG_KEY.public_key())  # type: ignore[arg-type]


# --- Checkpoint bodies ---------------------------------------------------------------------


def test_spec_example_checkpoint_body() -> None:
    cp = parse_body(SPEC_CHECKPOINT_BODY)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert format_body(cp) == SPEC_CHECKPOINT_BODY


def test_format_body() -> None:
    assert format_body(CHECKPOINT) == (
        f"{LOG_NAME}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    )
    assert parse_body(format_body(Checkpoint("o", 0, bytes(32)))).size == 0
    assert parse_body(format_body(Checkpoint("o", 2**64 - 1, ROOT))).size == 2**64 - 1


ROOT_B64 = base64.b64encode(ROOT).decode()
URLSAFE_B64 = base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode()  # "-" and "_"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "end with a newline"),
        (f"o\n1\n{ROOT_B64}", "end with a newline"),
        (f"o\n1\n{ROOT_B64}\n\n", "3 lines"),
        ("o\n1\n", "3 lines"),
        (f"o\n1\n{ROOT_B64}\nextension line\n", "3 lines"),
        (f"\n1\n{ROOT_B64}\n", "origin line is empty"),
        (f"o\n-1\n{ROOT_B64}\n", "decimal"),
        (f"o\n+1\n{ROOT_B64}\n", "decimal"),
        (f"o\n01\n{ROOT_B64}\n", "decimal"),
        (f"o\n00\n{ROOT_B64}\n", "decimal"),
        (f"o\n1.0\n{ROOT_B64}\n", "decimal"),
        (f"o\n 1\n{ROOT_B64}\n", "decimal"),
        (f"o\n1 \n{ROOT_B64}\n", "decimal"),
        (f"o\n1_000\n{ROOT_B64}\n", "decimal"),
        (f"o\n\u0661\n{ROOT_B64}\n", "decimal"),  # ARABIC-INDIC DIGIT ONE
        (f"o\n0x10\n{ROOT_B64}\n", "decimal"),
        (f"o\n\n{ROOT_B64}\n", "decimal"),
        (f"o\n{2**64}\n{ROOT_B64}\n", "too large"),
        ("o\n1\n!!!!\n", "not valid base64"),
        (f"o\n1\n{ROOT_B64.rstrip('=')}\n", "not valid base64"),
        (f"o\n1\n{ROOT_B64[:-2]}h=\n", "not canonical"),
        (f"o\n1\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes"),
        (f"o\n1\n{base64.b64encode(ROOT + b'x').decode()}\n", "33 bytes"),
        (f"o\n1\n{URLSAFE_B64}\n", "not valid base64"),
        (f"o\n1\n {ROOT_B64}\n", "not valid base64"),
        (f"o\r\n1\r\n{ROOT_B64}\r\n", "control character"),
        (f"o\x00\n1\n{ROOT_B64}\n", "control character"),
    ],
)
def test_parse_body_is_strict(text: str, complaint: str) -> None:
    with pytest.raises(NoteFormatError, match=complaint):
        parse_body(text)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        ("a\x00", 1, ROOT),
        ("o", -1, ROOT),
        ("o", 2**64, ROOT),
        ("o", True, ROOT),
        ("o", "1", ROOT),
        ("o", 1, ROOT[:31]),
        ("o", 1, ROOT.hex()),
    ],
)
def test_checkpoint_rejects_bad_fields(origin: object, size: object, root: object) -> None:
    with pytest.raises(NoteFormatError):
        Checkpoint(origin, size, root)  # type: ignore[arg-type]


# --- Properties ----------------------------------------------------------------------------

_note_chars = st.characters(exclude_categories=["Cs"], min_codepoint=0x20)
_origins = st.text(_note_chars, min_size=1, max_size=40)
_bodies = st.lists(st.text(_note_chars, max_size=30), min_size=1, max_size=6).map(
    lambda lines: "".join(line + "\n" for line in lines)
)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)


@PROPERTY_SETTINGS
@given(_origins, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32))
def test_checkpoint_body_round_trip(origin: str, size: int, root: bytes) -> None:
    cp = Checkpoint(origin, size, root)
    assert parse_body(format_body(cp)) == cp


@PROPERTY_SETTINGS
@given(_bodies)
def test_any_note_text_round_trips(body: str) -> None:
    # Including texts with empty lines, or ending in one: the last empty line separates.
    note = sign_note(body, LOG_NAME, LOG_KEY)
    assert open_note(note, log_keys()) == (body, [LOG_NAME])


@PROPERTY_SETTINGS
@given(_bodies, st.data())
def test_any_single_character_change_fails(body: str, data: st.DataObject) -> None:
    note = sign_note(body, LOG_NAME, LOG_KEY)
    i = data.draw(st.integers(0, len(note) - 1))
    replacement = data.draw(st.characters(exclude_categories=["Cs"]).filter(lambda c: c != note[i]))
    with pytest.raises(NoteVerificationError):
        open_note(note[:i] + replacement + note[i + 1 :], log_keys())
