"""Full-screen pages for the room states other than "in call", readable from 5 m.

* idle: clock, room name, how to join, whether the server is reachable;
* joining: "Joining <room>", the current step, a progress bar;
* reconnecting: what failed and when the next try is (``status_line``), the clock;
* error: one line of reason and one of what to check.

Each state has its own background colour, so the state is recognisable before it is read.
"""

from __future__ import annotations

import pygame

from kiosk.screen import theme
from kiosk.screen.layout import Rect
from kiosk.screen.roomview import RoomView
from kiosk.screen.theme import Color, Sizes, TextCache
from kiosk.screen.tiles import to_pygame_rect


def _title(view: RoomView) -> str:
    room = view.room_name.strip()
    if view.state == "idle":
        return room or "Meeting room"
    if view.state == "joining":
        return f"Joining {room}…" if room else "Joining…"
    if view.state == "reconnecting":
        return "Reconnecting…"
    if view.state == "error":
        return "Not connected"
    return room


def _server_line(view: RoomView) -> tuple[str, Color]:
    if view.server_reachable is True:
        return "Server reachable", theme.OK_COLOR
    if view.server_reachable is False:
        return "Server unreachable", theme.BAD_COLOR
    return "Checking the server…", theme.UNKNOWN_COLOR


class StatePainter:
    """Draws a state page; remembers where the progress bar is to animate only that."""

    def __init__(self, text: TextCache, sizes: Sizes) -> None:
        self.text = text
        self.sizes = sizes
        self.progress_rect: Rect | None = None

    def _line(
        self,
        target: pygame.Surface,
        text: str,
        size: int,
        color: Color,
        bg: Color,
        center_x: int,
        top: int,
        max_width: int,
        min_size: int | None = None,
    ) -> int:
        """Draw one centred line; return the y below it."""
        if not text:
            return top
        surf = self.text.fit(text, size, color, bg, max_width, min_size=min_size)
        target.blit(surf, surf.get_rect(midtop=(center_x, top)))
        return top + surf.get_height()

    def _wrapped(self, text: str, size: int, max_width: int, max_lines: int) -> list[str]:
        """``text`` word-wrapped to ``max_width`` at ``size``; at most ``max_lines`` lines, the
        last one always the text's end (an elided middle is marked with "…")."""
        words = text.split()
        if not words:
            return []
        font = self.text.font(size)
        lines: list[str] = []
        current = ""
        for word in words:
            candidate = f"{current} {word}" if current else word
            if current and font.size(candidate)[0] > max_width:
                lines.append(current)
                current = word
            else:
                current = candidate
        lines.append(current)
        if len(lines) > max_lines:
            lines = [*lines[: max_lines - 1], "… " + lines[-1]]
        return lines

    def draw(self, target: pygame.Surface, view: RoomView, now: float) -> None:
        w, h = target.get_size()
        s = self.sizes
        bg = theme.STATE_BACKGROUND.get(view.state, theme.BACKGROUND)
        target.fill(bg)
        cx = w // 2
        margin = max(8, w // 20)
        max_w = w - 2 * margin
        gap = s.pad * 3
        self.progress_rect = None

        if view.state == "idle":
            y = round(h * 0.08)
            y = self._line(target, view.clock_text, s.clock, theme.WHITE, bg, cx, y, max_w)
            y = max(y + gap, round(h * 0.36))
            y = self._line(
                target,
                _title(view),
                s.title,
                theme.WHITE,
                bg,
                cx,
                y,
                max_w,
                min_size=s.title * 2 // 3,
            )
            y += gap * 2
            y = self._line(
                target, view.hint, s.line, theme.HINT_COLOR, bg, cx, y, max_w, min_size=s.small
            )
            y = max(y + gap, round(h * 0.52))
            for when, title, countdown in view.agenda:
                if y > h - round(h * 0.08) - 4 * s.small - s.pad:
                    break
                line = "   ".join(part for part in (when, title, countdown) if part)
                y = self._line(
                    target, line, s.small, theme.WHITE, bg, cx, y, max_w, min_size=s.small * 3 // 4
                )
                y += s.pad
            text, color = _server_line(view)
            self._status_dot(target, text, color, bg, cx, h - round(h * 0.08) - s.small, max_w)
            if view.status_line:
                self._line(
                    target,
                    view.status_line,
                    s.small,
                    theme.TEXT_DIM,
                    bg,
                    cx,
                    h - round(h * 0.08) - 3 * s.small,
                    max_w,
                )
            return

        title_color = theme.STATE_TITLE_COLOR.get(view.state, theme.WHITE)
        y = round(h * 0.30)
        y = self._line(
            target, _title(view), s.title, title_color, bg, cx, y, max_w, min_size=s.title * 2 // 3
        )
        y += gap * 2
        # Reasons are wrapped, not cut: their end is often the useful part ("…; set
        # server.ca_file"). Beyond 3 lines the middle goes, never the end.
        for line in self._wrapped(view.status_line, s.line, max_w, 3):
            y = self._line(target, line, s.line, theme.WHITE, bg, cx, y, max_w, min_size=s.small)
        y += gap
        for line in self._wrapped(view.detail, s.small, max_w, 2):
            y = self._line(
                target,
                line,
                s.small,
                theme.TEXT_DIM,
                bg,
                cx,
                y,
                max_w,
                min_size=max(12, s.small * 3 // 4),
            )
        if view.state == "joining":
            bar_w = min(max_w, round(w * 0.5))
            bar_h = max(6, round(h * 0.025))
            bar = Rect(cx - bar_w // 2, max(y + gap * 3, round(h * 0.62)), bar_w, bar_h)
            self.progress_rect = bar if Rect(0, 0, w, h).contains(bar) and not bar.empty else None
            self.draw_progress(target, view, now)
        if view.state in ("reconnecting", "error"):
            text, color = _server_line(view)
            if view.server_reachable is not None:
                self._status_dot(target, text, color, bg, cx, h - round(h * 0.08) - s.small, max_w)
        if view.clock_text and view.state != "joining":
            surf = self.text.render(view.clock_text, s.line, theme.TEXT_DIM, bg)
            target.blit(surf, surf.get_rect(topright=(w - margin, round(h * 0.04))))

    def progress_phase(self, view: RoomView, now: float) -> int:
        """What the bar looks like now (changes ~15 times a second when indeterminate)."""
        if view.progress is not None:
            return round(max(0.0, min(1.0, view.progress)) * 1000)
        return -1 - int(now * 15) % 60

    def draw_progress(self, target: pygame.Surface, view: RoomView, now: float) -> Rect | None:
        r = self.progress_rect
        if r is None:
            return None
        pr = to_pygame_rect(r)
        target.fill((40, 60, 90), pr)
        if view.progress is not None:
            frac = max(0.0, min(1.0, view.progress))
            target.fill(theme.WHITE, pygame.Rect(r.x, r.y, round(r.w * frac), r.h))
        else:
            seg = max(1, r.w // 4)
            phase = (-1 - self.progress_phase(view, now)) / 60.0
            x = r.x + round((r.w + seg) * phase) - seg
            part = pygame.Rect(x, r.y, seg, r.h).clip(pr)
            if part.w > 0:
                target.fill(theme.WHITE, part)
        return r

    def _status_dot(
        self,
        target: pygame.Surface,
        text: str,
        color: Color,
        bg: Color,
        cx: int,
        top: int,
        max_w: int,
    ) -> None:
        surf = self.text.fit(text, self.sizes.small, color, bg, max_w - self.sizes.small * 2)
        dot = max(4, surf.get_height() // 3)
        total = surf.get_width() + 3 * dot
        x = cx - total // 2
        pygame.draw.circle(target, color, (x + dot, top + surf.get_height() // 2), dot)
        target.blit(surf, (x + 3 * dot, top))
