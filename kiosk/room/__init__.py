"""Room features around the call: display standby and wake, occupancy (PIR).

* :mod:`kiosk.room.idle` — pure idle policy: when the display may sleep and what wakes it.
* :mod:`kiosk.room.power` — display power: HDMI-CEC via ``cec-ctl``, a DSI backlight, or a black
  screen; external commands behind :class:`~kiosk.room.power.CommandRunner`.
* :mod:`kiosk.room.occupancy` — presence from a PIR sensor (gpiozero ``MotionSensor``).
"""
