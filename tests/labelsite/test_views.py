"""What every view shares: the permission check and answering with several partials at once."""

from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from labelsite.views import has_permissions, permission_required, render_partials
from tests.fixtures.users import make_user

TEMPLATES = Path(__file__).parent / "templates"


def request_by(user=None):
    request = RequestFactory().get("/")
    if user is not None:
        request.user = user
    return request


@permission_required("labels.view_label")
def plain(request, word):
    return HttpResponse(f"seen {word}")


@permission_required(("labels.view_label", "labels.change_label"))
def any_of(request):
    return HttpResponse("seen")


@permission_required("contacts.view_contact", ("contacts.label_contacts", "labels.change_label"))
def all_and_any(request):
    return HttpResponse("seen")


@pytest.mark.django_db
def test_a_plain_permission_is_needed():
    with pytest.raises(PermissionDenied):
        plain(request_by(make_user("nobody")), "x")
    with pytest.raises(PermissionDenied):
        plain(request_by(make_user("other", "labels.change_label")), "x")
    response = plain(request_by(make_user("viewer", "labels.view_label")), word="it")
    assert response.content == b"seen it"


@pytest.mark.django_db
@pytest.mark.parametrize("perm", ["labels.view_label", "labels.change_label"])
def test_a_tuple_needs_any_one_of_its_permissions(perm):
    with pytest.raises(PermissionDenied):
        any_of(request_by(make_user("nobody", "labels.delete_label")))
    assert any_of(request_by(make_user("somebody", perm))).content == b"seen"


@pytest.mark.django_db
def test_every_argument_is_needed_and_a_tuple_counts_as_one():
    with pytest.raises(PermissionDenied):
        all_and_any(request_by(make_user("a", "contacts.view_contact")))
    with pytest.raises(PermissionDenied):
        all_and_any(request_by(make_user("b", "contacts.label_contacts", "labels.change_label")))
    both = make_user("c", "contacts.view_contact", "labels.change_label")
    assert all_and_any(request_by(both)).content == b"seen"
    assert has_permissions(both, "contacts.view_contact", ("labels.change_label",))
    assert not has_permissions(both, ("contacts.export_contacts", "labels.delete_label"))


@pytest.mark.django_db
def test_a_superuser_passes_and_the_view_keeps_its_name():
    assert plain(request_by(make_user("boss", superuser=True)), "x").status_code == 200
    assert plain.__name__ == "plain"


@pytest.mark.django_db
def test_refusal_is_a_403_through_the_stack(client, settings):
    """On a real endpoint: a person lacking the permission gets 403, one holding it 200."""
    from django.urls import reverse

    url = reverse("admin:labels_label_changelist")
    client.force_login(make_user("nobody"))
    assert client.get(url).status_code == 403
    client.force_login(make_user("viewer", "labels.view_label"))
    assert client.get(url).status_code == 200


@pytest.fixture
def test_templates(settings):
    engine = {**settings.TEMPLATES[0]}
    engine["DIRS"] = [*engine["DIRS"], TEMPLATES]
    settings.TEMPLATES = [engine]


def test_render_partials_renders_them_in_order_with_oob_only_on_the_oob_ones(test_templates):
    response = render_partials(
        request_by(),
        "tests/partials_page.html",
        ["second", "first"],
        {"word": "hi"},
        oob=["third"],
        status=422,
    )
    response.render()
    assert response.status_code == 422
    assert response.content.decode().strip() == (
        '<p id="second">hi two</p>'
        '<p id="first">hi one</p>'
        '<p id="third" hx-swap-oob="true">hi three</p>'
    )


def test_render_partials_without_oob(test_templates):
    response = render_partials(request_by(), "tests/partials_page.html", ["third"], {"word": "x"})
    assert response.render().content.decode().strip() == '<p id="third">x three</p>'
    assert response.status_code == 200
