"""Hypothesis strategies for hostile HTTP requests: random methods, headers (Authorization with random schemes and
base64, Content-Type variants, repeats), form, JSON and multipart bodies with the real parameter names and random
values (repeated parameters, huge values, NUL, invalid UTF-8, wrong charsets, deep nesting), query strings, and
bodies padded to and beyond the body limit.

The clients the fuzzed servers know have fixed ids and secrets (see conftest's fixtures), so generated requests
can name them and failing examples print as they were sent."""

from __future__ import annotations

import base64
import gzip
import operator
from urllib.parse import quote, quote_plus

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from tests.fuzz.wire import BODY_LIMIT, Request

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BOUNDARY = "fuzzboundary"

# A confidential client registered for every grant: requests name it, but only with wrong secrets.
CLIENT_ID = "fuzz-confidential"
CLIENT_SECRET = "fuzz-confidential-secret-0123456789abcdef"
# A confidential client registered for the code flow only: its real secret may appear anywhere, since without a
# code or refresh token that the server issued, no request of it can obtain a token.
CODE_CLIENT_ID = "fuzz-code-only"
CODE_CLIENT_SECRET = "fuzz-code-only-secret-0123456789abcdefgh"
PUBLIC_CLIENT_ID = "fuzz-public"
REDIRECT_URI = "https://client.example/fuzz/callback"
# Where the clients may send a person after signing out (OpenID Connect RP-Initiated Logout 1.0 section 3).
POST_LOGOUT_REDIRECT_URI = "https://client.example/fuzz/signed-out"
CLIENT_IDS = (CLIENT_ID, CODE_CLIENT_ID, PUBLIC_CLIENT_ID)

PARAMETERS = (
    "grant_type",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "resource",
    "audience",
    "username",
    "password",
    "token",
    "token_type_hint",
    "response_type",
    "response_mode",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "request",
    "request_uri",
    "rid",
    "csrf",
    "decision",
    "access_token",
)

INTERESTING = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "%00",
    "%ff",
    "\r\n",
    "client_credentials",
    "authorization_code",
    "refresh_token",
    "password",
    "implicit",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:device_code",
    "openid",
    "openid profile email offline_access notes:read notes:write",
    "notes:read notes:admin",
    "S256",
    "plain",
    "code",
    "code id_token",
    "token",
    "none",
    "login consent",
    "none login",
    "query",
    "fragment",
    "access_token",
    "refresh_token",
    "allow",
    "0",
    "-1",
    "1e9",
    "99999999999999999999999999",
    "٣",
    REDIRECT_URI,
    REDIRECT_URI + "?x=1",
    REDIRECT_URI + "#fragment",
    REDIRECT_URI.upper(),
    "https://evil.example/callback",
    "http://127.0.0.1/callback",
    "javascript:alert(1)",
    "//evil.example",
    "a.b.c",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "é",
    "\u202e",
    "💥",
    "A" * 43,
    *CLIENT_IDS,
    CODE_CLIENT_SECRET,
    "unknown-client",
)

huge_text = st.builds(
    operator.mul,
    st.sampled_from(["a", "é", "\x00", "%", "=", "&", "+"]),
    st.sampled_from([255, 256, 257, 1024, 4096, 4097, 10_000, 40_000]),
)
values = st.one_of(st.text(max_size=40), st.sampled_from(INTERESTING), huge_text)
tame_values = st.one_of(
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40),
    st.sampled_from([v for v in INTERESTING if "\x00" not in v]),
)
names = st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=12))

# How a form pair is put on the wire: properly, unescaped, in another charset, or with bytes that are not UTF-8.
PAIR_ENCODINGS = ("utf-8", "utf-8", "raw", "latin-1", "invalid-utf-8", "no-equals")


def encode_pair(name: str, value: str, how: str) -> bytes:
    def enc(text: str) -> bytes:
        return text.encode("utf-8", "surrogatepass")

    if how == "raw":
        return enc(name) + b"=" + enc(value)
    if how == "latin-1":
        return (quote_plus(name, encoding="latin-1", errors="replace") + "=").encode() + quote_plus(
            value, encoding="latin-1", errors="replace"
        ).encode()
    if how == "invalid-utf-8":
        return quote_plus(name).encode() + b"=" + quote_plus(value).encode() + b"%FF%C0\xfe\xff"
    if how == "no-equals":
        return quote_plus(name).encode()
    return quote_plus(name).encode() + b"=" + quote_plus(value).encode()


form_pairs = st.lists(st.tuples(names, values, st.sampled_from(PAIR_ENCODINGS)), max_size=8)


@st.composite
def form_bodies(draw: st.DrawFn, pairs: st.SearchStrategy[list[tuple[str, str, str]]] = form_pairs) -> bytes:
    chosen = draw(pairs)
    # Repeat a parameter now and then (RFC 6749 section 3.2 forbids it).
    if chosen and draw(st.booleans()):
        chosen = [*chosen, draw(st.sampled_from(chosen))]
    body = b"&".join(encode_pair(*pair) for pair in chosen)
    return body + draw(st.sampled_from([b"", b"", b"&", b"&&", b"=", b"%", b"%zz", b"\x00", b"\r\n"]))


# Values that mean something for a parameter, so that well-formed requests get past the first checks.
MEANINGFUL = {
    "grant_type": ("client_credentials", "authorization_code", "refresh_token", "password", "implicit"),
    "client_id": CLIENT_IDS,
    "client_secret": (CODE_CLIENT_SECRET, "wrong"),
    "scope": ("notes:read", "openid notes:write", "notes:admin", "offline_access"),
    "redirect_uri": (REDIRECT_URI, "https://evil.example/callback"),
    "code_verifier": ("A" * 43, "a" * 128, "short"),
    "token_type_hint": ("access_token", "refresh_token", "id_token"),
    "response_type": ("code", "token"),
    "code_challenge_method": ("S256", "plain"),
    "resource": ("http://127.0.0.1:8001", "https://elsewhere.example"),
}


@st.composite
def oauth_forms(draw: st.DrawFn, names: tuple[str, ...] = PARAMETERS) -> bytes:
    """Well-formed forms (UTF-8, each parameter once) of the real parameter names, with meaningful values three
    times in four and anything else otherwise: what gets a request through the form checks to the code behind."""
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=10))
    if "grant_type" in names and "grant_type" not in chosen and draw(st.integers(0, 3)):
        chosen.append("grant_type")
    pairs = []
    for name in chosen:
        meaningful = MEANINGFUL.get(name)
        if meaningful and draw(st.integers(0, 3)):
            pairs.append((name, draw(st.sampled_from(meaningful))))
        else:
            # Mostly values the form checks let through (no NUL, not too long), so that one odd value does not
            # stop every example at the first check.
            pairs.append((name, draw(st.one_of(tame_values, tame_values, tame_values, values))))
    return "&".join(f"{quote_plus(name)}={quote_plus(value)}" for name, value in pairs).encode()


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    values,
)


def json_documents(keys: st.SearchStrategy[str]) -> st.SearchStrategy[object]:
    return st.recursive(
        json_scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
        max_leaves=12,
    )


RAW_JSON = (
    b"",
    b"{",
    b"[]",
    b"null",
    b'"string"',
    b"{}",
    b'{"a":1,"a":2}',
    b'{"redirect_uris":["https://a.example/cb"],"redirect_uris":null}',
    b'{"title":"\\ud800"}',
    b'{"title":"\\u0000"}',
    b'{"title":"\xff\xfe"}',
    b"\xef\xbb\xbf{}",
    '{"title": "utf-16"}'.encode("utf-16"),
    b'{"title": NaN}',
    b'{"title": 1e999}',
    b'{"title": "x",}',
    b"[" * 200 + b"]" * 200,
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b"[" * 40_000,
)


@st.composite
def json_bodies(draw: st.DrawFn, keys: st.SearchStrategy[str] = names) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(RAW_JSON))
    return orjson.dumps(draw(json_documents(keys)))


@st.composite
def multipart_bodies(draw: st.DrawFn) -> bytes:
    parts = []
    for name, value, filename, content_type in draw(
        st.lists(
            st.tuples(
                names,
                values,
                st.sampled_from([None, None, "x.txt", 'a"b']),
                st.sampled_from([None, None, "text/plain", "application/octet-stream", "text/plain; charset=bogus"]),
            ),
            max_size=4,
        )
    ):
        head = f'Content-Disposition: form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        if content_type:
            head += f"\r\nContent-Type: {content_type}"
        parts.append(
            f"--{BOUNDARY}\r\n{head}\r\n\r\n".encode("utf-8", "surrogatepass")
            + value.encode("utf-8", "surrogatepass")
            + b"\r\n"
        )
    closing = draw(st.sampled_from([f"--{BOUNDARY}--\r\n".encode(), b"", b"--other--\r\n", b"garbage"]))
    return b"".join(parts) + closing


bodies = st.one_of(
    st.none(),
    form_bodies(),
    oauth_forms(),
    json_bodies(),
    multipart_bodies(),
    st.binary(max_size=200),
    st.just(gzip.compress(b"grant_type=client_credentials")),
)

CONTENT_TYPES = (
    FORM,
    FORM,
    FORM + "; charset=utf-8",
    FORM + "; charset=UTF-8",
    FORM + "; charset=latin-1",
    FORM + "; charset=utf-16",
    FORM + "; charset=bogus",
    FORM + "; charset=",
    "Application/X-WWW-Form-Urlencoded",
    FORM + ", " + JSON,
    JSON,
    JSON + "; charset=utf-8",
    JSON + "; charset=bogus",
    "application/jwt",
    "multipart/form-data; boundary=" + BOUNDARY,
    "multipart/form-data",
    "text/plain",
    "*/*",
    ";",
    ";0*",
    FORM + "; charset*",
    "",
)
content_types = st.sampled_from(CONTENT_TYPES)
CONTENT_ENCODINGS = ("gzip", "deflate", "br", "zstd", "identity", "compress", "gzip, gzip", "x-unknown")

# Header values without control characters other than tab: the client refuses to send those (header injection is
# the HTTP parser's business, not the application's).
header_text = st.text(st.characters(include_characters="\t", exclude_categories=["Cc", "Cs"]), max_size=60)


def basic(client_id: str, secret: str) -> str:
    """RFC 6749 section 2.3.1: each part form-urlencoded, then joined and base64-encoded."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode("utf-8", "surrogatepass")
    return "Basic " + base64.b64encode(raw).decode()


client_secrets = st.one_of(st.sampled_from(["", "wrong", CLIENT_SECRET[:-1], CLIENT_SECRET + "x"]), values)
client_authorizations = st.one_of(
    st.builds(basic, st.sampled_from(CLIENT_IDS) | values, client_secrets),
    st.builds(basic, st.just(CODE_CLIENT_ID), st.just(CODE_CLIENT_SECRET)),
    st.builds(lambda raw: "Basic " + base64.b64encode(raw).decode(), st.binary(max_size=60)),
    st.builds(lambda text: "Basic " + text, st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)),
    st.sampled_from(
        [
            "Basic",
            "Basic ",
            "basic " + base64.b64encode(f"{CODE_CLIENT_ID}:{CODE_CLIENT_SECRET}".encode()).decode(),
            "Basic ====",
            "Basic Zm9v",
            "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),
            "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()[:-2],
            "Bearer x",
            "Digest username=x",
            "Negotiate YII=",
        ]
    ),
    header_text,
)
bearer_authorizations = st.one_of(
    st.builds(lambda text: "Bearer " + text, header_text),
    st.sampled_from(
        ["Bearer", "Bearer ", "bearer abc", "Bearer a b", "Bearer ===", "Bearer a.b.c", "Basic Zm9vOmJhcg=="]
    ),
    header_text,
)

HEADER_NAMES = (
    "Accept",
    "Cookie",
    "Origin",
    "Referer",
    "X-Request-ID",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "If-None-Match",
    "Range",
    "Accept-Language",
    "DPoP",
)


@st.composite
def header_lists(
    draw: st.DrawFn,
    authorizations: st.SearchStrategy[str],
    content_types: st.SearchStrategy[str] = content_types,
) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
        headers.append(("Authorization", draw(authorizations)))
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
        headers.append(("Content-Type", draw(content_types | header_text)))
    if draw(st.integers(0, 9)) == 0:
        headers.append(("Content-Encoding", draw(st.sampled_from(CONTENT_ENCODINGS))))
    extra = st.tuples(st.sampled_from(HEADER_NAMES) | st.from_regex(r"\AX-[A-Za-z0-9-]{1,12}\Z"), header_text)
    headers.extend(draw(st.lists(extra, max_size=3)))
    return tuple(draw(st.permutations(headers)))


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    """A raw query: pairs encoded as forms are, plus stray bytes a real URL parser would have to live with."""
    pairs = draw(
        st.lists(st.tuples(names, values, st.sampled_from(["utf-8", "utf-8", "latin-1", "invalid-utf-8"])), max_size=6)
    )
    query = raw_query(b"&".join(encode_pair(*pair) for pair in pairs))
    return query + draw(st.sampled_from(["", "", "&", "%", "%zz", "&=&", "#frag", "?"]))


def raw_query(encoded: bytes) -> str:
    """A query as a URL carries it: bytes a request line cannot hold are percent-encoded, the rest (including
    stray `%` and invalid escapes) left as they are."""
    return quote(encoded, safe="&=%+;/?:@,$!*'()~")


methods = st.sampled_from(("GET", "POST", "POST", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND"))
SIZES = (None, None, None, None, BODY_LIMIT - 1, BODY_LIMIT, BODY_LIMIT + 1, 4 * BODY_LIMIT)


@st.composite
def requests(
    draw: st.DrawFn,
    paths: st.SearchStrategy[str],
    authorizations: st.SearchStrategy[str],
    *,
    methods: st.SearchStrategy[str] = methods,
    body_strategy: st.SearchStrategy[bytes | None] = bodies,
    content_types: st.SearchStrategy[str] = content_types,
) -> Request:
    body = draw(body_strategy)
    pad_to = draw(st.sampled_from(SIZES))
    return Request(
        method=draw(methods),
        path=draw(paths),
        query=draw(st.just("") | query_strings()),
        headers=draw(header_lists(authorizations, content_types)),
        body=body,
        pad_to=pad_to,
        # Padding that keeps a form a form (one more, long parameter) and a JSON document JSON (whitespace).
        pad_with=b" " if body is None or body[:1] in (b"{", b"[") else b"a",
    )


@st.composite
def form_posts(draw: st.DrawFn, path: str, authorizations: st.SearchStrategy[str]) -> Request:
    """POSTs of forms with the envelope right (one form Content-Type, at most one Authorization, no padding or
    Content-Encoding), the randomness all in the form: what reaches the code behind the form checks."""
    headers = [
        ("Content-Type", draw(st.sampled_from([FORM, FORM, FORM + "; charset=utf-8", FORM + "; charset=latin-1"])))
    ]
    if draw(st.integers(0, 3)):
        headers.append(("Authorization", draw(authorizations)))
    return Request("POST", path, "", tuple(draw(st.permutations(headers))), draw(oauth_forms() | form_bodies()))


@st.composite
def authenticated_form_posts(draw: st.DrawFn, path: str) -> Request:
    """Like form_posts, from a client that authenticates properly (Basic or in the body, or a public client by
    its id): the code-only client and the public one, which no form can get a token for without a code or refresh
    token the server issued."""
    form = draw(oauth_forms(names=tuple(p for p in PARAMETERS if p not in ("client_id", "client_secret"))))
    how = draw(st.sampled_from(["basic", "body", "public"]))
    headers = [("Content-Type", FORM)]
    if how == "basic":
        headers.append(("Authorization", basic(CODE_CLIENT_ID, CODE_CLIENT_SECRET)))
    elif how == "body":
        form += f"&client_id={CODE_CLIENT_ID}&client_secret={CODE_CLIENT_SECRET}".encode()
    else:
        form += f"&client_id={PUBLIC_CLIENT_ID}".encode()
    return Request("POST", path, "", tuple(headers), form.lstrip(b"&"))


def quoted_path_segment(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


# DPoP proofs (RFC 9449 section 4.2): JWT-shaped values over the real member names, some signed for real by a key
# their header names (so they get past the signature to the claim checks), some not, and plain text.
DPOP_MEMBERS = ("typ", "alg", "jwk", "jti", "htm", "htu", "iat", "ath", "nonce", "kty", "crv", "x", "y", "d", "n", "e")
DPOP_KEY = ec.generate_private_key(ec.SECP256R1())
DPOP_JWK = ECAlgorithm.to_jwk(DPOP_KEY.public_key(), as_dict=True)
# Small values: a header line has room for 16 KB (aiohttp's limit), and a failing example must stay printable.
dpop_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1), st.floats(), tame_values
)
dpop_documents = st.recursive(
    dpop_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(DPOP_MEMBERS), children, max_size=4)
    ),
    max_leaves=8,
)
dpop_headers = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "typ": st.sampled_from(["dpop+jwt", "application/dpop+jwt", "JWT", "at+jwt"]) | dpop_scalars,
            "alg": st.sampled_from(["ES256", "none", "HS256", "RS256", "EdDSA", "es256"]) | dpop_scalars,
            "jwk": st.sampled_from([DPOP_JWK, {**DPOP_JWK, "d": "AAAA"}, {**DPOP_JWK, "crv": "P-384"}])
            | dpop_documents,
            "crit": dpop_documents,
        },
    ),
    dpop_documents,
)
dpop_claims = st.fixed_dictionaries(
    {},
    optional={
        "jti": st.sampled_from(["j", "j" * 257]) | dpop_scalars,
        "htm": st.sampled_from(["GET", "POST", "get"]) | dpop_scalars,
        "htu": st.sampled_from(["http://127.0.0.1:8001/api/me", "/token", "http://[::1/x", "http://a@b/"])
        | dpop_scalars,
        "iat": st.sampled_from([0, 1e308, -1, 2**63]) | dpop_scalars,
        "ath": dpop_scalars,
        "nonce": dpop_scalars,
    },
)


def _segment(document: object) -> str:
    # orjson writes NaN and infinities as null: one more odd value.
    return base64.urlsafe_b64encode(orjson.dumps(document)).rstrip(b"=").decode()


def _signed(header: object, claims: dict[str, object]) -> str:
    extra = header if isinstance(header, dict) else {}
    try:
        return jwt.encode(claims, DPOP_KEY, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": DPOP_JWK, **extra})
    except (TypeError, ValueError, NotImplementedError, jwt.PyJWTError):
        return _segment(header) + "." + _segment(claims) + "."


dpop_proofs = st.one_of(
    st.builds(_signed, dpop_headers, dpop_claims),
    st.builds(
        lambda header, claims, signature: f"{_segment(header)}.{_segment(claims)}.{signature}",
        dpop_headers,
        dpop_claims | dpop_documents,
        st.sampled_from(["", "AAAA", "A" * 86, "!!"]),
    ),
    header_text,
)
