"""The page table: one row per route, titles as the tabs show them, and each page module
paired with the state module whose event loads it."""

from __future__ import annotations

from stylestudio.pages.registry import PAGES, TEST_CHECKOUT, pages


def test_every_route_is_added_once_and_the_test_checkout_only_when_on() -> None:
    routes = [page.route for page in pages(test_checkout=True)]
    assert len(routes) == len(set(routes))
    assert TEST_CHECKOUT not in pages(test_checkout=False)
    assert TEST_CHECKOUT in pages(test_checkout=True)


def test_titles_read_as_before() -> None:
    titles = {page.route: page.title for page in PAGES}
    assert titles["/"] == "Style Studio"
    assert titles["/signup"] == "Create account · Style Studio"
    assert titles["/admin/moderation"] == "Moderation · Admin · Style Studio"
    assert TEST_CHECKOUT.title == "Test checkout · Style Studio"


def test_each_page_module_is_paired_with_its_state_module() -> None:
    for page in pages(test_checkout=True):
        page_module = page.component.__module__.rsplit(".", 1)[1]
        state_module = page.on_load.fn.__module__.rsplit(".", 1)[1]
        if page.route == "/":  # the home page only loads the shared session (who is signed in)
            assert state_module == "session"
            continue
        assert page_module == state_module, page.route
