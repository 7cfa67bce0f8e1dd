/*
** sheet.h: a contact sheet: many small scene images on one grid, enlarged
** nearest-neighbour so a person can see what the model sees.
**
**     MlImage sheet;
**     ml_scene_contact_sheet(tiles, 48, 8, 3, &sheet, &err);  // 8 columns, 3x
**     ml_image_write_png("docs/contact-sheet.png", &sheet, &err);
**     ml_image_free(&sheet);
*/
#ifndef ML_SCENE_SHEET_H
#define ML_SCENE_SHEET_H

#include "core/error.h"
#include "io/image.h"

/* Tiles must share one size. The grid has a 2 px dark gutter; out is allocated. */
int ml_scene_contact_sheet(const MlImage *tiles, int n, int cols, int scale, MlImage *out, MlError *err);

#endif
