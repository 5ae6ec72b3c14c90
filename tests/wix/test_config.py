import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from labelsite.wix import WixClient, WixConfig, WixConfigurationError

GOOD = {
    "WIX_API_BASE_URL": "http://127.0.0.1:9",
    "WIX_API_KEY": "key-that-must-stay-secret",
    "WIX_SITE_ID": "site-1",
    "WIX_MAX_REQUESTS_PER_MINUTE": 120,
    "WIX_CONNECT_TIMEOUT": 2.0,
    "WIX_READ_TIMEOUT": 9.0,
    "WIX_MAX_RETRIES": 3,
}


def test_from_settings_reads_every_setting():
    with override_settings(**GOOD):
        config = WixConfig.from_settings()
        client = WixClient.from_settings()

    assert config.api_key == "key-that-must-stay-secret"
    assert config.site_id == "site-1"
    assert not hasattr(config, "account_id")
    assert client.timeout == (2.0, 9.0)
    assert client.max_retries == 3
    assert client.pacer.interval == pytest.approx(0.5)
    client.close()


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"WIX_API_KEY": ""}, "WIX_API_KEY"),
        ({"WIX_SITE_ID": ""}, "WIX_SITE_ID"),
        ({"WIX_MAX_REQUESTS_PER_MINUTE": -1}, "WIX_MAX_REQUESTS_PER_MINUTE"),
        ({"WIX_READ_TIMEOUT": 0}, "WIX_READ_TIMEOUT"),
        ({"WIX_MAX_RETRIES": -2}, "WIX_MAX_RETRIES"),
    ],
)
def test_from_settings_fails_fast_naming_the_setting(overrides, named):
    with override_settings(**{**GOOD, **overrides}), pytest.raises(WixConfigurationError) as info:
        WixClient.from_settings()

    assert named in str(info.value)
    assert isinstance(info.value, ImproperlyConfigured)
    assert "key-that-must-stay-secret" not in str(info.value)


def test_client_requires_a_site_id():
    with pytest.raises(WixConfigurationError, match="WIX_SITE_ID"):
        WixClient(base_url="http://x", api_key="k", site_id="")
    with pytest.raises(WixConfigurationError, match="WIX_SITE_ID"):
        WixClient(base_url="http://x", api_key="k")


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"app_id": "a", "app_secret": "s"}, "WIX_APP_INSTANCE_ID not set"),
        ({"app_id": "a", "app_instance_id": "i"}, "WIX_APP_SECRET not set"),
        ({"app_id": "a", "app_secret": "s", "app_instance_id": "i", "api_key": "k"}, "not both"),
        ({"app_id": "a", "app_secret": "s\n", "app_instance_id": "i"}, "WIX_APP_SECRET contains"),
    ],
)
def test_app_mode_needs_all_three_app_settings(settings_, message):
    with pytest.raises(WixConfigurationError, match=message) as error:
        WixConfig(base_url="http://x", **settings_)
    assert "s\n" not in str(error.value)


def test_config_and_client_repr_mask_the_key():
    with override_settings(**GOOD):
        config = WixConfig.from_settings()
        client = WixClient.from_settings()

    for text in (repr(config), str(config), repr(client), str(client)):
        assert "key-that-must-stay-secret" not in text
    assert "api_key=***" in repr(config)
    assert "site-1" in repr(client)
    client.close()
