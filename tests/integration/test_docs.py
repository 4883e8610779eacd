"""The API documentation works without the internet: Swagger UI (the default page) loads its
scripts and style from this service, with no token, like the page itself."""

from __future__ import annotations

import re

from litestar.testing import TestClient

from fleet.api.app import create_app
from fleet.settings import Settings


def test_the_docs_page_needs_nothing_from_elsewhere(settings: Settings) -> None:
    with TestClient(create_app(settings)) as anonymous:
        page = anonymous.get("/schema")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert anonymous.get("/schema/swagger").text == page.text
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert assets
        assert all(a.startswith("/schema-assets/swagger-ui/") for a in assets), assets
        kinds = {}
        for asset in assets:
            got = anonymous.get(asset)
            assert got.status_code == 200, asset
            assert len(got.content) > 500, asset
            kinds[asset.rsplit(".", 1)[1]] = got.headers["content-type"]
        assert kinds["js"].startswith(("text/javascript", "application/javascript"))
        assert kinds["css"].startswith("text/css")
        assert kinds["png"].startswith("image/png")
        assert '"operationId":"list_site"' in page.text  # the document itself, inline
        assert anonymous.get("/schema-assets/swagger-ui/nope.js").status_code == 404
        assert anonymous.get("/schema-assets/swagger-ui/../../etc/passwd").status_code in (
            400,
            404,
        )
