"""The studio (/upload): choose photos and options, generate a batch, watch it arrive."""

from __future__ import annotations

import asyncio
import uuid

import reflex as rx

from stylestudio.db import get_engine
from stylestudio.runtime import available_models
from stylestudio.services.accounts.accounts import CurrentUser
from stylestudio.services.billing import pricing
from stylestudio.services.errors import DomainError, InsufficientCreditsError
from stylestudio.services.generation import generation_flows, generations
from stylestudio.services.generation.generation_views import GenerationView, get_generation_views
from stylestudio.settings import get_settings
from stylestudio.state import generation_watch as watch
from stylestudio.state.arguments import (
    FLAG,
    ROW_ID,
    bounded_int,
    checked,
    choice,
    digits,
    numbers,
    only_digits,
    text,
    whole_number,
)
from stylestudio.state.calls import in_session
from stylestudio.state.photo_capture import INSTALL_PASTE_JS
from stylestudio.state.session import media_base_url
from stylestudio.state.studio_inputs import StudioInputsState

MAX_RESULTS_SHOWN = 12


def _model_options() -> list[generations.ModelChoice]:
    return []


def _results() -> list[GenerationView]:
    return []


class StudioState(StudioInputsState):
    """Options, cost, Generate, and the results of this tab's latest generations."""

    prompt: rx.Field[str] = rx.field("")
    negative_prompt: rx.Field[str] = rx.field("")
    style: rx.Field[str] = rx.field("realistic")
    more_styles: rx.Field[list[str]] = rx.field(default_factory=list)
    quality: rx.Field[str] = rx.field("standard")
    aspect_ratio: rx.Field[str] = rx.field("1:1")
    model: rx.Field[str] = rx.field(pricing.DEFAULT_MODEL)
    variations: rx.Field[int] = rx.field(1)
    seed_text: rx.Field[str] = rx.field("")
    # The engine's models, each with its current multiplier.
    model_options: rx.Field[list[generations.ModelChoice]] = rx.field(
        default_factory=_model_options
    )

    generate_error: rx.Field[str] = rx.field("")
    needs_credits: rx.Field[bool] = rx.field(False)
    submitting: rx.Field[bool] = rx.field(False)
    cancelling: rx.Field[bool] = rx.field(False)
    # This tab's latest generations (a batch, then any regenerations), newest first.
    results: rx.Field[list[GenerationView]] = rx.field(default_factory=_results)
    watching: rx.Field[bool] = rx.field(False)
    compare_at: rx.Field[int] = rx.field(50)  # the before/after divider, percent from left

    # Backend only: the key that makes a double click on Generate start one batch.
    _request_key: str = ""
    # Backend only: which watcher follows `results` (see watch_generation).
    _watch_id: str = ""

    # -- what the page shows ---------------------------------------------------------------

    @rx.var
    def selected_model(self) -> generations.ModelChoice | None:
        for option in self.model_options:
            if option.key == self.model:
                return option
        return self.model_options[0] if self.model_options else None

    @rx.var
    def max_variations(self) -> int:
        chosen = self.selected_model
        return (chosen.max_variations or 1) if chosen is not None else 1

    @rx.var
    def show_variations(self) -> bool:
        return self.max_variations > 1

    @rx.var
    def variation_choices(self) -> list[str]:
        return [str(n) for n in range(1, self.max_variations + 1)]

    @rx.var
    def show_seed(self) -> bool:
        chosen = self.selected_model
        return chosen.seed if chosen is not None else True

    @rx.var
    def show_negative_prompt(self) -> bool:
        chosen = self.selected_model
        return chosen.negative_prompt if chosen is not None else True

    @rx.var
    def reads_one_product(self) -> bool:
        chosen = self.selected_model
        return not chosen.all_product_images if chosen is not None else False

    @rx.var
    def styles_chosen(self) -> list[str]:
        return [self.style, *(s for s in self.more_styles if s != self.style)]

    @rx.var
    def cost_each(self) -> int:
        chosen = self.selected_model
        multiplier = pricing.multiplier_from_hundredths(
            chosen.multiplier_hundredths if chosen is not None else 100
        )
        variations = self.variations if self.show_variations else 1
        return pricing.generation_cost(
            quality=self.quality,
            aspect_ratio=self.aspect_ratio,
            model_multiplier=multiplier,
            variations=max(1, min(variations, pricing.MAX_VARIATIONS)),
        )

    @rx.var
    def cost(self) -> int:
        return self.cost_each * len(self.styles_chosen)

    @rx.var
    def cost_label(self) -> str:
        return pricing.credits_label(self.cost)

    @rx.var
    def cost_breakdown(self) -> str:
        """How the total is made: per image × variations × styles."""
        variations = self.variations if self.show_variations else 1
        per_image = self.cost_each // max(1, variations)
        parts = [f"{pricing.credits_label(per_image)} per image"]
        if variations > 1:
            parts.append(f"{variations} variations")
        styles = len(self.styles_chosen)
        if styles > 1:
            parts.append(f"{styles} styles")
        return " × ".join(parts)

    @rx.var
    def can_generate(self) -> bool:
        return len(self.products) > 0 and not self.submitting and not self.watching

    # -- page load -------------------------------------------------------------------------

    @rx.event
    async def open_studio(self):
        """on_load of /upload, also run on every reconnect (a backend restart included):
        load the models and prices, pick up the watch of unfinished generations."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        self._request_key = uuid.uuid4().hex
        self.generate_error = ""
        self.needs_credits = False
        self.submitting = False
        self.uploading = False
        models = available_models()
        self.model_options = await in_session(
            lambda s: generations.model_choices(s, models=models), write=False
        )
        if self.model not in {m.key for m in self.model_options}:
            self.model = self.model_options[0].key if self.model_options else ""
        self._clamp_variations()
        await self._load_recent(user.id)
        follow = self._resume_watch()
        return [rx.call_script(INSTALL_PASTE_JS), *([follow] if follow else [])]

    def _resume_watch(self):
        """Start a watcher if an open generation has none alive in this process."""
        if all(r.is_terminal for r in self.results):
            self.watching = False
            return None
        if watch.follow(self._watch_id, watch.open_statuses(self.results)):
            return None  # its watcher runs here, and now follows these cards too
        self.watching = True
        return StudioState.watch_generation

    # -- options: any client can call these with anything ----------------------------------
    # Text is cut to its cap before it is kept, and a choice must be one of the known keys
    # (a non-string is not even looked up).

    @rx.event
    @checked(value=text(generations.MAX_PROMPT_LENGTH))
    def set_prompt(self, value: str) -> None:
        if isinstance(value, str):
            self.prompt = value[: generations.MAX_PROMPT_LENGTH]

    @rx.event
    @checked(value=text(generations.MAX_PROMPT_LENGTH))
    def set_negative_prompt(self, value: str) -> None:
        if isinstance(value, str):
            self.negative_prompt = value[: generations.MAX_PROMPT_LENGTH]

    @rx.event
    @checked(value=choice(*pricing.STYLE_PRESETS))
    def set_style(self, value: str) -> None:
        if isinstance(value, str) and value in pricing.STYLE_PRESETS:
            self.style = value
            self.more_styles = [s for s in self.more_styles if s != value]

    @rx.event
    @checked(style=choice(*pricing.STYLE_PRESETS), checked=FLAG)
    def toggle_more_style(self, style: str, checked: bool) -> None:
        if not isinstance(style, str) or style not in pricing.STYLE_PRESETS:
            return
        others = [s for s in self.more_styles if s != style]
        if checked is True and style != self.style:
            others.append(style)
        # Kept in the presets' order, so the batch reads the same whatever the clicks.
        self.more_styles = [s for s in pricing.STYLE_PRESETS if s in others]

    @rx.event
    @checked(value=choice(*pricing.QUALITY_MULTIPLIERS))
    def set_quality(self, value: str) -> None:
        if isinstance(value, str) and value in pricing.QUALITY_MULTIPLIERS:
            self.quality = value

    @rx.event
    @checked(value=choice(*pricing.ASPECT_RATIO_MULTIPLIERS))
    def set_aspect_ratio(self, value: str) -> None:
        if isinstance(value, str) and value in pricing.ASPECT_RATIO_MULTIPLIERS:
            self.aspect_ratio = value

    @rx.event
    @checked(value=text(200))
    def set_model(self, value: str) -> None:
        if isinstance(value, str) and value in {m.key for m in self.model_options}:
            self.model = value
            self._clamp_variations()

    @rx.event
    @checked(value=digits(2))
    def set_variations(self, value: str) -> None:
        if isinstance(value, str) and value.isdigit():
            self.variations = int(value)
            self._clamp_variations()

    def _clamp_variations(self) -> None:
        most = self.max_variations
        self.variations = max(1, min(self.variations, most))

    @rx.event
    @checked(value=text(200))
    def set_seed_text(self, value: str) -> None:
        if isinstance(value, str):
            self.seed_text = only_digits(value)[:10]

    @rx.event
    @checked(value=numbers(1, 2))
    def set_compare_at(self, value: list[int | float]) -> None:
        if isinstance(value, list) and value and isinstance(value[0], (int, float)):
            self.compare_at = max(0, min(100, int(value[0])))

    # -- generating --------------------------------------------------------------------------

    @rx.event
    async def generate(self):
        self.generate_error = ""
        self.needs_credits = False
        if self.submitting or (self.watching and watch.is_live(self._watch_id)):
            return  # one batch at a time: the button is disabled meanwhile
        if not self.products:
            self.generate_error = "Upload a product image first."
            return
        seed: int | None = None
        if self.show_seed and self.seed_text:
            seed = whole_number(self.seed_text)
            if seed is None or seed > generations.MAX_SEED:
                self.generate_error = f"The seed must be from 0 to {generations.MAX_SEED}."
                return
        self.submitting = True
        yield  # the button shows its busy state before the slow part
        try:
            user = await self._current_user()
            if user is None:
                yield rx.redirect("/login")
                return
            spec = generations.GenerationSpec(
                product_image_ids=tuple(p.id for p in self.products),
                styles=tuple(self.styles_chosen),
                quality=self.quality,
                aspect_ratio=self.aspect_ratio,
                model_image_id=self.model_image_id or None,
                prompt=self.prompt,
                negative_prompt=self.negative_prompt if self.show_negative_prompt else "",
                model=self.model,
                variations=self.variations if self.show_variations else 1,
                seed=seed,
            )
            views = await self._start(user.id, spec, self._request_key or uuid.uuid4().hex)
        finally:
            self.submitting = False
        if views is None:
            return
        self.results = views
        self._request_key = uuid.uuid4().hex  # the next click is a new batch
        await self._current_user()  # the header shows the spend at once
        yield self._resume_watch()

    async def _start(
        self, user_id: int, spec: generations.GenerationSpec, key: str
    ) -> list[GenerationView] | None:
        """Start `spec` (all its styles or none); the views of what started, or None with
        the reason in `generate_error`."""
        try:
            return await asyncio.to_thread(
                generation_flows.start_generations,
                db=get_engine(),
                user_id=user_id,
                spec=spec,
                idempotency_key=key,
                models=available_models(),
                engine_name=get_settings().generation_engine,
                base_url=media_base_url(),
            )
        except InsufficientCreditsError as exc:
            self.generate_error = exc.message
            self.needs_credits = True
        except DomainError as exc:
            self.generate_error = exc.message
        return None

    @rx.event
    @checked(generation_id=ROW_ID, seed=bounded_int(0, generations.MAX_SEED, optional=True))
    async def use_settings(self, generation_id: int, seed: int):
        """`Use these settings` on a result: the studio is filled with that generation's
        photos and options, and that result's seed."""
        user = await self._current_user()
        if user is None:
            return rx.redirect("/login")
        settings = await self._settings_of(user.id, generation_id)
        if settings is None:
            return None
        self.products = settings.products
        self._set_scene(settings.scene)
        self.prompt, self.negative_prompt = settings.prompt, settings.negative_prompt
        self.style, self.more_styles = settings.style, []
        self.quality, self.aspect_ratio = settings.quality, settings.aspect_ratio
        if settings.model in {m.key for m in self.model_options}:
            self.model = settings.model
        self.variations = settings.variations
        self._clamp_variations()
        own_seed = seed if isinstance(seed, int) and 0 <= seed <= generations.MAX_SEED else None
        self.seed_text = str(own_seed if own_seed is not None else settings.seed)
        self.generate_error = ""
        return rx.scroll_to("studio-options")

    async def _settings_of(
        self, user_id: int, generation_id: int
    ) -> generations.StudioSettings | None:
        """What `Use these settings` and `Regenerate` start from (None: `generate_error`)."""
        base = media_base_url()
        try:
            return await in_session(
                lambda s: generations.studio_settings(
                    s, user_id=user_id, generation_id=generation_id, base_url=base
                ),
                write=False,
            )
        except DomainError as exc:
            self.generate_error = exc.message
            return None

    @rx.event
    @checked(generation_id=ROW_ID)
    async def regenerate(self, generation_id: int):
        """`Regenerate` on a result: the same photos and options, a new seed, at once."""
        self.generate_error = ""
        user = await self._current_user()
        if user is None:
            yield rx.redirect("/login")
            return
        settings = await self._settings_of(user.id, generation_id)
        if settings is None:
            return
        spec = generations.GenerationSpec(
            product_image_ids=tuple(p.id for p in settings.products),
            styles=(settings.style,),
            quality=settings.quality,
            aspect_ratio=settings.aspect_ratio,
            model_image_id=settings.scene.id if settings.scene else None,
            prompt=settings.prompt,
            negative_prompt=settings.negative_prompt,
            model=settings.model,
            variations=settings.variations,
            seed=None,
        )
        views = await self._start(user.id, spec, uuid.uuid4().hex)
        if views is None:
            return
        self.results = (views + self.results)[:MAX_RESULTS_SHOWN]
        await self._current_user()
        yield self._resume_watch()

    # -- following ---------------------------------------------------------------------------

    @rx.event(background=True)
    async def watch_generation(self) -> None:
        """Follow this tab's open generations until they end. The jobs run in the worker.

        One watcher per tab: a newer one (started after a reconnect) replaces it. Idle, it
        awaits a pushed status change (no query, no lock). It stops when every generation
        has ended, after WATCH_TIMEOUT_SECONDS, when the tab has been gone for
        TAB_GONE_SECONDS, or on any error; `watching` is cleared however it stops.
        """
        base = media_base_url()

        def apply(loaded: tuple[CurrentUser, list[GenerationView]]) -> watch.Statuses:
            user, views = loaded
            if self._merge(views) and user.id == self._user_id:
                self._show(user)  # a refund shows in the header
            return watch.open_statuses(self.results)

        def stopped() -> None:
            self.watching = False

        await watch.watch_cards(
            self,
            slot="_watch_id",
            cards=lambda: self.results,
            load=lambda s, token, ids: watch.views_for_token(s, token=token, ids=ids, base=base),
            apply=apply,
            on_stop=stopped,
            what="watching generations",
        )

    def _merge(self, views: list[GenerationView]) -> bool:
        """Put fresh views in place; True when one of them has just ended."""
        merged, ended = watch.merge_views(self.results, views)
        if merged != self.results:
            self.results = merged
        return ended

    @rx.event
    async def cancel_current(self):
        """`Cancel` with nothing named: every open generation of this tab's results."""
        open_ids = [r.id for r in self.results if not r.is_terminal]
        async for update in self._cancel(open_ids):
            yield update

    @rx.event
    @checked(generation_id=ROW_ID)
    async def cancel_generation(self, generation_id: int):
        """`Cancel` on a queued or running generation of this tab's results: ends it,
        refunds once, and stops its prediction at the provider."""
        if any(r.id == generation_id for r in self.results):
            async for update in self._cancel([generation_id]):
                yield update

    async def _cancel(self, generation_ids: list[int]):
        if not generation_ids or self.cancelling:
            return
        self.cancelling = True
        yield
        try:
            user = await self._current_user()
            if user is None:
                yield rx.redirect("/login")
                return
            for generation_id in generation_ids:
                await watch.cancel_for_user(user.id, generation_id)
            base = media_base_url()
            views = await in_session(
                lambda s: get_generation_views(
                    s, user_id=user.id, generation_ids=generation_ids, base_url=base
                ),
                write=False,
            )
            self._merge(views)
            await self._current_user()  # the refund shows in the header
        except DomainError as exc:
            self.generate_error = exc.message
        finally:
            self.cancelling = False
