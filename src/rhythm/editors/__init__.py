"""Editor time, as WakaTime counts it: heartbeats from wakatime-cli and the editor plugins."""
