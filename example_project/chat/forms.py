from django import forms


class AnnounceForm(forms.Form):
    text = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    room = forms.SlugField(
        max_length=50, required=False, help_text="Leave empty to announce in every room."
    )
