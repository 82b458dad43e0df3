from mailtui.core.scan.registry import register


@register("dnsbl", "DNSBL", "stub", aims_at="domain")
async def run(ctx):
    return []
