from mailtui.core.scan.registry import register


@register("ssh", "SSH", "stub")
async def run(ctx):
    return []
