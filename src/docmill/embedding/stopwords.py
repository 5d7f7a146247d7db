"""Stop words the sparse encoder drops, per ISO 639-1 code (short lists: function words only, so that words
which carry meaning in business documents, such as `invoice` or `total`, always count)."""

from __future__ import annotations

_EN = """a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off
on once only or other our ours ourselves out over own same she should so some such than that the their theirs
them themselves then there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves"""

_DE = """aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes auch auf aus
bei bin bis bist da damit dann das dass dem den denn der des dich die dies diese diesem diesen dieser dieses dir
doch dort du durch ein eine einem einen einer eines er es etwas euch euer für hab habe haben hat hatte hier hin
hinter ich ihm ihn ihnen ihr ihre im in ist jede jedem jeden jeder jedes jene man mein meine mich mir mit muss
nach nicht nichts noch nun nur ob oder ohne sehr sein seine sich sie sind so solche soll sondern um und uns unser
unter viel vom von vor war waren warst was weil welche wenn wer werde werden wie wieder will wir wird wo wollen zu
zum zur über"""

_FR = """a ai au aux avec ce ces cette dans de des du elle en et eux il ils je la le les leur lui ma mais me même
mes moi mon ne nos notre nous on ou où par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos
votre vous été être avoir est sont était"""

_ES = """a al algo como con de del donde el ella ellas ellos en entre era es esa ese eso esta este esto estos ha
han hay la las le les lo los mas me mi mis muy más no nos o para pero por que se sin sobre su sus también te tu
un una uno unos y ya él"""

STOP_WORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split()) for lang, words in (("en", _EN), ("de", _DE), ("fr", _FR), ("es", _ES))
}
