from django.apps import AppConfig


class WixCacheConfig(AppConfig):
    name = "wixcache"
    verbose_name = "Wix cache"
