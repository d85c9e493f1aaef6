"""A session's network options: the HTTP proxy (given, or named by the environment), the TLS
context, and telling a certificate failure (permanent) from other connection failures.

The environment is read once, when the session is made, for the one origin it talks to
(``base_url``): the proxy is then passed with every request, whichever aiohttp session
carries it. aiohttp's own ``trust_env`` is not used for this: it looks the proxy and
``~/.netrc`` up in a worker thread on every request, and a ``~/.netrc`` entry for the API's
host would clash with the Authorization header the session sends.

Proxy credentials are secrets like the auth token: the URL passed on never carries them
(they travel as a ``Proxy-Authorization`` header), and the password and the header's value
are registered with the log filter, so no message, log record or exception chain shows them.
"""

from __future__ import annotations

import base64
import os
import re
import ssl as _ssl
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import (  # type: ignore[attr-defined]
    getproxies_environment,
    proxy_bypass_environment,
)

import aiohttp
import attrs

from ._errors import CertificateVerificationError, ConfigurationError, ProxyAuthenticationError
from ._log import register_secret

__all__ = ["NetworkOptions", "certificate_failure", "is_certificate_error", "shown_url"]

_EXAMPLE = "'http://proxy.example.com:3128'"


def shown_url(url: str) -> str:
    """``url`` with everything before its last ``@`` (after the scheme) masked.

    Greedy on purpose: a password holding ``/``, ``#`` or ``@`` unencoded must not show,
    nor one in a URL written without its scheme.
    """
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)?.*@", r"\1***@", url, flags=re.DOTALL)


def _parse_proxy(url: object, source: str) -> tuple[str, str | None]:
    """The proxy URL without credentials, and its ``Proxy-Authorization`` value (or None).

    ``source`` names where ``url`` came from in the error (``proxy`` or a variable).
    """
    if not isinstance(url, str):
        raise ConfigurationError(
            f"{source} must be a string such as {_EXAMPLE}, not {type(url).__name__}"
        )
    shown = shown_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{source} {shown!r} is not a valid URL") from None
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ConfigurationError(
            f"{source} {shown!r} is not an http:// proxy URL such as {_EXAMPLE} "
            "(HTTPS targets go through an http:// proxy with CONNECT; https:// and SOCKS "
            "proxies are not supported)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(f"{source} {shown!r} must not have a path, query or fragment")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    bare = f"http://{host}" + (f":{port}" if port is not None else "")
    if parts.username is None and parts.password is None:
        return bare, None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    register_secret(password)
    register_secret(token)
    return bare, f"Basic {token}"


def _environment_proxy(base_url: str) -> tuple[str, str] | None:
    """The proxy the environment names for ``base_url`` and the variable it came from.

    As requests and httpx read it: ``https_proxy``/``HTTPS_PROXY`` for an https origin
    (``http_proxy``/``HTTP_PROXY`` for http), else ``all_proxy``/``ALL_PROXY``, the
    lower-case name first; ``no_proxy``/``NO_PROXY`` (host names, domain suffixes, ``*``)
    exempts the origin. A value without a scheme is taken as ``http://``.
    """
    parts = urlsplit(base_url)
    proxies = getproxies_environment()
    if not proxies:
        return None
    host = parts.hostname or ""
    address = f"{host}:{parts.port}" if parts.port is not None else host
    if proxy_bypass_environment(address, proxies):
        return None
    for scheme in (parts.scheme, "all"):
        value = proxies.get(scheme)
        if value:
            names = (f"{scheme}_proxy", f"{scheme.upper()}_PROXY")
            name = next((n for n in names if os.environ.get(n) == value), names[1])
            if "://" not in value:
                value = f"http://{value}"
            return value, f"the environment variable {name}"
    return None


@attrs.frozen
class NetworkOptions:
    """Where a session's requests go through, and the TLS context they verify with."""

    #: The proxy's URL without credentials, or None (a direct connection).
    proxy: str | None = None
    #: Where the proxy came from: ``"proxy"`` or ``"the environment variable HTTPS_PROXY"``.
    proxy_source: str | None = None
    proxy_authorization: str | None = attrs.field(default=None, repr=False)
    trust_env: bool = True
    ssl: _ssl.SSLContext | None = None
    #: Whether the origin is https (reached through the proxy by a CONNECT tunnel).
    tunnel: bool = True

    @classmethod
    def build(
        cls,
        base_url: str,
        *,
        proxy: object = None,
        trust_env: object = True,
        ssl: object = None,
        http_session: aiohttp.ClientSession | None = None,
    ) -> NetworkOptions:
        """Check ``NumLinkSession``'s network arguments (``ConfigurationError`` names one)."""
        if not isinstance(trust_env, bool):
            raise ConfigurationError(f"trust_env must be True or False, not {trust_env!r}")
        if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise ConfigurationError(
                "ssl must be an ssl.SSLContext, e.g. ssl.create_default_context(cafile=PATH) "
                f"for a private CA bundle, or None for the system's CAs; not {type(ssl).__name__}"
            )
        if http_session is not None and not trust_env and http_session.trust_env:
            raise ConfigurationError(
                "trust_env=False cannot be honoured with an http_session built with "
                "trust_env=True (aiohttp would still read the environment's proxies): build "
                "the borrowed session with trust_env=False, or leave trust_env at True"
            )
        source: str | None = None
        if proxy is not None:
            source = "proxy"
        elif trust_env and (found := _environment_proxy(base_url)) is not None:
            proxy, source = found
        tunnel = base_url.startswith("https:")
        if proxy is None or source is None:
            return cls(trust_env=trust_env, ssl=ssl, tunnel=tunnel)
        bare, authorization = _parse_proxy(proxy, source)
        return cls(bare, source, authorization, trust_env, ssl, tunnel)

    def _applies(self, http_session: aiohttp.ClientSession) -> bool:
        """Whether requests go through :attr:`proxy` on ``http_session``.

        A proxy the environment names does not replace a default proxy a borrowed session
        was built with; one given with ``proxy=`` does.
        """
        if self.proxy is None:
            return False
        return self.proxy_source == "proxy" or getattr(http_session, "_default_proxy", None) is None

    def request_options(self, http_session: aiohttp.ClientSession) -> dict[str, Any]:
        """The arguments every request passes to ``http_session.request`` (over its defaults)."""
        options: dict[str, Any] = {}
        if self.ssl is not None:
            options["ssl"] = self.ssl
        if self._applies(http_session):
            options["proxy"] = self.proxy
            if self.proxy_authorization is not None:
                # Sent on the CONNECT that opens a tunnel to an https origin.
                options["proxy_headers"] = {"Proxy-Authorization": self.proxy_authorization}
        return options

    def proxy_refused(self, *, method: str, path: str) -> ProxyAuthenticationError:
        """The error for a ``407 Proxy Authentication Required``: the proxy refused the
        credentials (or asks for some). Never retried: wrong credentials sent again and again
        can lock a corporate proxy account. The message names the proxy without credentials.
        """
        where = f"the proxy {self.proxy}" if self.proxy is not None else "a proxy on the way"
        if self.proxy_source is not None and self.proxy_source != "proxy":
            where += f" (from {self.proxy_source})"
        what = (
            "refused the proxy credentials"
            if self.proxy_authorization is not None
            else "requires credentials and none were given"
        )
        setting = "HTTPS_PROXY" if self.tunnel else "HTTP_PROXY"
        return ProxyAuthenticationError(
            f"{method} {path} failed: {where} {what} (HTTP 407 Proxy Authentication "
            "Required). Not retried: wrong credentials sent again can lock the proxy account. "
            "Give the right user and password in the proxy URL: "
            "proxy='http://USER:PASSWORD@HOST:PORT' (percent-encode @, : or / in them), or the "
            f"same URL in the environment variable {setting}",
            method=method,
            path=path,
            proxy=self.proxy,
        )

    def request_headers(self, http_session: aiohttp.ClientSession) -> dict[str, str]:
        """Headers every request carries: to a plain-http origin through a proxy, the
        ``Proxy-Authorization`` (aiohttp sends ``proxy_headers`` on a CONNECT only)."""
        if self.tunnel or self.proxy_authorization is None or not self._applies(http_session):
            return {}
        return {"Proxy-Authorization": self.proxy_authorization}


def is_certificate_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it chains to) is a failed certificate check.

    An untrusted or expired certificate, a host name that does not match it, or a pinned
    fingerprint that differs: none of these goes away by trying again.
    """
    seen = 0
    todo: list[BaseException] = [exc]
    while todo and seen < 16:
        link = todo.pop()
        seen += 1
        if isinstance(
            link,
            aiohttp.ClientConnectorCertificateError
            | aiohttp.ServerFingerprintMismatch
            | _ssl.CertificateError,
        ):
            return True
        todo.extend(e for e in (link.__cause__, link.__context__) if e is not None)
    return False


def certificate_failure(
    exc: BaseException, *, method: str, path: str
) -> CertificateVerificationError | None:
    """The error for a request whose server certificate failed verification, or None."""
    if not is_certificate_error(exc):
        return None
    host = getattr(exc, "host", None)
    port = getattr(exc, "port", None)
    where = f"{host}:{port}" if host and port else (host or "the server")
    cert_error = getattr(exc, "certificate_error", exc)
    reason = getattr(cert_error, "verify_message", None) or getattr(cert_error, "reason", None)
    detail = f" ({reason})" if reason else ""
    return CertificateVerificationError(
        f"{method} {path} failed: TLS certificate verification failed for {where}{detail}. "
        "Not retried: a certificate problem does not go away by trying again. If the server "
        "(or a TLS-inspecting proxy) uses a private or corporate CA, pass "
        "ssl=ssl.create_default_context(cafile=PATH) (command line: set SSL_CERT_FILE=PATH)",
        method=method,
        path=path,
        host=host,
        reason=str(reason) if reason else None,
    )
