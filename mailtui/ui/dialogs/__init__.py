"""Modal dialogs: each one a ``ModalScreen[T]`` that returns its answer with ``dismiss``."""

from mailtui.ui.dialogs.ban import BanDialog, BanRequest
from mailtui.ui.dialogs.confirm import ConfirmDialog
from mailtui.ui.dialogs.error import ErrorDialog, HostKeyChangedDialog
from mailtui.ui.dialogs.fix_preview import FixPreviewDialog, FixRequest
from mailtui.ui.dialogs.host_key import HostKeyChoice, HostKeyDialog
from mailtui.ui.dialogs.password import SudoPasswordDialog
from mailtui.ui.dialogs.profile_form import ProfileForm

__all__ = [
    "BanDialog",
    "BanRequest",
    "ConfirmDialog",
    "ErrorDialog",
    "FixPreviewDialog",
    "FixRequest",
    "HostKeyChangedDialog",
    "HostKeyChoice",
    "HostKeyDialog",
    "ProfileForm",
    "SudoPasswordDialog",
]
