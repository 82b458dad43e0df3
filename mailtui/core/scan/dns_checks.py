from mailtui.core.scan.registry import register


@register("dns", "DNS", "stub", aims_at="domain")
async def run(ctx):
    return []
