package main
import (
 _ "github.com/rs/zerolog"
 _ "gopkg.in/yaml.v3"
 _ "github.com/eclipse/paho.golang/paho"
 _ "github.com/eclipse/paho.mqtt.golang"
 _ "go.uber.org/goleak"
 _ "github.com/tetratelabs/wazero"
 _ "github.com/fsnotify/fsnotify"
)
