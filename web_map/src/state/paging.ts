/** Token paging through search results: the API gives "next" links; we remember the way back. */

export class Pager {
  private pages: string[] = [];
  private index = -1;

  /** A new search: its first page. */
  start(firstUrl: string): string {
    this.pages = [firstUrl];
    this.index = 0;
    return firstUrl;
  }

  /** Follow a page's "next" link; pages after the current one are forgotten. */
  next(nextUrl: string): string {
    this.pages = this.pages.slice(0, this.index + 1);
    this.pages.push(nextUrl);
    this.index += 1;
    return nextUrl;
  }

  /** Back one page, or null on the first. */
  prev(): string | null {
    if (this.index <= 0) return null;
    this.index -= 1;
    return this.pages[this.index];
  }

  get current(): string | null {
    return this.index >= 0 ? this.pages[this.index] : null;
  }

  /** 1-based number of the current page (0 before any search). */
  get page(): number {
    return this.index + 1;
  }

  get hasPrev(): boolean {
    return this.index > 0;
  }
}
